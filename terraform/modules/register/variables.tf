variable "cluster_name" {
  type        = string
  description = "Name of the cluster in the clusterset, a DNS-1123 label (1-63 lowercase letters, digits or '-'). It must match the cluster name in the gateway's and the agent's SPIFFE IDs. Changing it replaces the cluster."

  validation {
    condition     = can(regex("^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$", var.cluster_name))
    error_message = "cluster_name \"${var.cluster_name}\" is not a DNS-1123 label: use 1-63 lowercase letters, digits or '-', starting and ending with a letter or digit."
  }
}

variable "trust_domain" {
  type        = string
  description = "SPIFFE trust domain of the cluster's workloads and gateways, for example eu-1.example.org. It may not be the control plane's own trust domain (meshfed.local by default)."

  validation {
    condition     = length(var.trust_domain) <= 255 && can(regex("^[a-z0-9._-]+$", var.trust_domain))
    error_message = "trust_domain \"${var.trust_domain}\" is not a SPIFFE trust domain name: use at most 255 lowercase letters, digits, '.', '-' or '_', without a scheme or a path."
  }
}

variable "locality" {
  type = object({
    provider = string
    region   = string
    zone     = optional(string)
  })
  description = "Where the cluster runs: provider (aws, gcp, azure, onprem...), region and, for a zonal cluster, zone. Gateways route to the nearest healthy copy of a service by locality."

  validation {
    condition = alltrue([
      for part in [var.locality.provider, var.locality.region, coalesce(var.locality.zone, "z")] :
      can(regex("^[a-z0-9._-]{1,63}$", part))
    ])
    error_message = "locality {provider = \"${var.locality.provider}\", region = \"${var.locality.region}\", zone = ${var.locality.zone == null ? "null" : "\"${var.locality.zone}\""}} is not valid: each part is 1-63 lowercase letters, digits, '.', '-' or '_' (zone may be null)."
  }
}

variable "labels" {
  type        = map(string)
  default     = {}
  nullable    = false
  description = "Labels of the cluster in the control plane (Kubernetes-style keys and values, at most 64); failover policies select clusters by them."

  validation {
    condition     = length(var.labels) <= 64
    error_message = "labels has ${length(var.labels)} entries; the control plane keeps at most 64."
  }

  validation {
    condition = alltrue([
      for k, v in var.labels :
      can(regex("^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$", k)) &&
      can(regex("^([A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?)?$", v))
    ])
    error_message = "labels ${jsonencode({ for k, v in var.labels : k => v if !(can(regex("^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$", k)) && can(regex("^([A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?)?$", v))) })} are not valid: a key is an optional DNS prefix and '/', then 1-63 letters, digits, '-', '_' or '.' starting and ending with a letter or digit; a value is empty or 1-63 of the same."
  }
}

variable "gateway_addresses" {
  type        = list(string)
  default     = []
  nullable    = false
  description = "host:port addresses of the cluster's east-west gateways as the other clusters reach them (for example the inbound load balancer's), in order of preference; at most 16. Empty: gateways register their own addresses when they connect."

  validation {
    condition     = length(var.gateway_addresses) <= 16
    error_message = "gateway_addresses has ${length(var.gateway_addresses)} addresses; the control plane keeps at most 16."
  }

  validation {
    condition = alltrue([
      for a in var.gateway_addresses :
      can(regex("^(\\[[0-9A-Fa-f:.]+\\]|[A-Za-z0-9_.-]+):([1-9][0-9]{0,4})$", a)) && try(tonumber(regex("[0-9]+$", a)) <= 65535, false)
    ])
    error_message = "gateway_addresses ${jsonencode([for a in var.gateway_addresses : a if !(can(regex("^(\\[[0-9A-Fa-f:.]+\\]|[A-Za-z0-9_.-]+):([1-9][0-9]{0,4})$", a)) && try(tonumber(regex("[0-9]+$", a)) <= 65535, false))])} are not host:port addresses with a port in 1-65535, for example \"gw.example.com:15443\" or \"10.0.0.1:15443\"."
  }
}

variable "trust_bundle" {
  type        = string
  default     = null
  description = "The trust domain's bundle, a SPIFFE bundle document (JWKS) or PEM CA certificates, for example file(\"east-ca/bundle.json\") as written by `meshfed ca init`. When set, this module also manages the trust domain (meshfed_trust_domain); leave it null when the bundle is managed elsewhere (the CLI, a bundle endpoint, another cluster of the same trust domain)."

  validation {
    condition     = var.trust_bundle == null || can(jsondecode(var.trust_bundle).keys) || can(regex("-----BEGIN CERTIFICATE-----", var.trust_bundle))
    error_message = "trust_bundle is neither a SPIFFE bundle document (JSON with \"keys\") nor PEM certificates; it starts with \"${substr(coalesce(var.trust_bundle, " "), 0, 40)}\"."
  }
}
