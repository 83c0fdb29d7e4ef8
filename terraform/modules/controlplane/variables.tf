variable "etcd_endpoints" {
  type        = list(string)
  description = "Client URLs of the external etcd cluster (3 or 5 members), for example [\"https://etcd-0.etcd:2379\", \"https://etcd-1.etcd:2379\", \"https://etcd-2.etcd:2379\"]."

  validation {
    condition     = length(var.etcd_endpoints) > 0 && alltrue([for e in var.etcd_endpoints : can(regex("^https?://[^\\s,/]+(:[0-9]{1,5})?/?$", e))])
    error_message = "etcd_endpoints ${jsonencode(var.etcd_endpoints)} must be one or more etcd client URLs such as \"https://10.0.0.1:2379\" (no commas, no paths)."
  }
}

variable "etcd_ca_pem" {
  type        = string
  default     = null
  description = "PEM CA certificates that signed the etcd members' server certificates (for https endpoints). Null: the system roots."

  validation {
    condition     = var.etcd_ca_pem == null || can(regex("-----BEGIN CERTIFICATE-----", var.etcd_ca_pem))
    error_message = "etcd_ca_pem holds no PEM certificate; it starts with \"${substr(var.etcd_ca_pem == null ? "" : var.etcd_ca_pem, 0, 40)}\"."
  }
}

variable "etcd_client_cert_pem" {
  type        = string
  default     = null
  description = "PEM client certificate for etcd's client TLS authentication, with etcd_client_key_pem. Null: no client certificate."

  validation {
    condition     = var.etcd_client_cert_pem == null || can(regex("-----BEGIN CERTIFICATE-----", var.etcd_client_cert_pem))
    error_message = "etcd_client_cert_pem holds no PEM certificate; it starts with \"${substr(var.etcd_client_cert_pem == null ? "" : var.etcd_client_cert_pem, 0, 40)}\"."
  }
}

variable "etcd_client_key_pem" {
  type        = string
  default     = null
  sensitive   = true
  description = "PEM private key of etcd_client_cert_pem. It is kept in a Secret and in the Terraform state: protect the state."

  validation {
    condition     = var.etcd_client_key_pem == null || can(regex("-----BEGIN [A-Z ]*PRIVATE KEY-----", var.etcd_client_key_pem))
    error_message = "etcd_client_key_pem holds no PEM PRIVATE KEY block (the value is sensitive and not shown)."
  }
}

variable "trust_domain" {
  type        = string
  default     = "meshfed.local"
  description = "SPIFFE trust domain of the control plane's own identities; the trust domain of ca_cert_pem. Clients authenticate the control plane as spiffe://TRUST_DOMAIN/meshfed/controlplane."

  validation {
    condition     = length(var.trust_domain) <= 255 && can(regex("^[a-z0-9._-]+$", var.trust_domain))
    error_message = "trust_domain \"${var.trust_domain}\" is not a SPIFFE trust domain name: use at most 255 lowercase letters, digits, '.', '-' or '_'."
  }
}

variable "ca_cert_pem" {
  type        = string
  description = "PEM certificate of the control plane's CA (ca.pem of `meshfed ca init --trust-domain TRUST_DOMAIN`, or of an existing control plane's PKI directory). Every replica uses it to issue its server certificate and to verify admin certificates; give its content to the clusters as control_plane.ca_pem."

  validation {
    condition     = can(regex("-----BEGIN CERTIFICATE-----", var.ca_cert_pem))
    error_message = "ca_cert_pem holds no PEM certificate; it starts with \"${substr(var.ca_cert_pem, 0, 40)}\"."
  }
}

variable "ca_key_pem" {
  type        = string
  sensitive   = true
  description = "PKCS#8 PEM private key of ca_cert_pem (ca-key.pem). It is kept in a Secret and in the Terraform state: protect the state."

  validation {
    condition     = can(regex("-----BEGIN PRIVATE KEY-----", var.ca_key_pem))
    error_message = "ca_key_pem is not a PKCS#8 PEM key (a PRIVATE KEY block, as `meshfed ca init` writes; the value is sensitive and not shown)."
  }
}

variable "admin_token" {
  type        = string
  sensitive   = true
  description = "The admin bearer token every replica accepts, at least 32 characters (e.g. `openssl rand -hex 32`). Replicas must share it, so it is given rather than generated."

  validation {
    condition     = length(trimspace(var.admin_token)) >= 32 && !can(regex("\\s", trimspace(var.admin_token)))
    error_message = "admin_token must be at least 32 characters without spaces, e.g. from `openssl rand -hex 32` (the value is sensitive and not shown)."
  }
}

variable "admin_cert_pem" {
  type        = string
  default     = null
  description = "PEM admin X.509-SVID (spiffe://TRUST_DOMAIN/meshfed/admin/NAME) issued by the CA, with admin_key_pem, kept as admin.pem in the PKI directory. Null: each replica issues its own; any certificate the CA issues under /meshfed/admin/ is an admin."

  validation {
    condition     = var.admin_cert_pem == null || can(regex("-----BEGIN CERTIFICATE-----", var.admin_cert_pem))
    error_message = "admin_cert_pem holds no PEM certificate; it starts with \"${substr(var.admin_cert_pem == null ? "" : var.admin_cert_pem, 0, 40)}\"."
  }
}

variable "admin_key_pem" {
  type        = string
  default     = null
  sensitive   = true
  description = "PEM private key of admin_cert_pem."

  validation {
    condition     = var.admin_key_pem == null || can(regex("-----BEGIN [A-Z ]*PRIVATE KEY-----", var.admin_key_pem))
    error_message = "admin_key_pem holds no PEM PRIVATE KEY block (the value is sensitive and not shown)."
  }
}

variable "name" {
  type        = string
  default     = "meshfed-controlplane"
  description = "Name of the Deployment, its Service, ServiceAccount and PodDisruptionBudget, and prefix of its Secrets."

  validation {
    condition     = can(regex("^[a-z0-9]([-a-z0-9]{0,46}[a-z0-9])?$", var.name))
    error_message = "name \"${var.name}\" must be a DNS-1123 label of at most 48 characters (it prefixes the Secrets' names)."
  }
}

variable "namespace" {
  type        = string
  default     = "meshfed-controlplane"
  description = "Namespace of the control plane's objects."

  validation {
    condition     = can(regex("^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$", var.namespace))
    error_message = "namespace \"${var.namespace}\" is not a DNS-1123 label: use 1-63 lowercase letters, digits or '-', starting and ending with a letter or digit."
  }
}

variable "create_namespace" {
  type        = bool
  default     = true
  description = "Create the namespace (labelled for the restricted Pod Security Standard). Set to false when it exists already."
}

variable "image" {
  type        = string
  default     = "ghcr.io/meshfed/meshfed:v0.1.0"
  description = "meshfed container image; the replicas run its `meshfed controlplane` command."

  validation {
    condition     = can(regex("^[^\\s]+$", var.image))
    error_message = "image \"${var.image}\" is not an image reference (no spaces)."
  }
}

variable "replicas" {
  type        = number
  default     = 3
  description = "Number of control-plane replicas. They hold no state (etcd does), so any number serves; with more than one, a PodDisruptionBudget keeps all but one up during node drains."

  validation {
    condition     = var.replicas >= 1 && floor(var.replicas) == var.replicas
    error_message = "replicas ${var.replicas} must be a whole number of at least 1."
  }
}

variable "grpc_port" {
  type        = number
  default     = 15012
  description = "Port of the gRPC API (admin and gateway services), on the pods and on the Service."

  validation {
    condition     = var.grpc_port >= 1 && var.grpc_port <= 65535 && floor(var.grpc_port) == var.grpc_port
    error_message = "grpc_port ${var.grpc_port} is not a port number in 1-65535."
  }
}

variable "http_port" {
  type        = number
  default     = 15014
  description = "Port of /metrics, /healthz and /readyz on the pods (named http-metrics, for a PodMonitor); not on the Service."

  validation {
    condition     = var.http_port >= 1 && var.http_port <= 65535 && floor(var.http_port) == var.http_port
    error_message = "http_port ${var.http_port} is not a port number in 1-65535."
  }
}

variable "service_type" {
  type        = string
  default     = "ClusterIP"
  description = "Type of the gRPC Service: ClusterIP (clusters reach it through your own network path), LoadBalancer or NodePort. Gateways of every cluster must reach it."

  validation {
    condition     = contains(["ClusterIP", "LoadBalancer", "NodePort"], var.service_type)
    error_message = "service_type \"${var.service_type}\" is not one of ClusterIP, LoadBalancer or NodePort."
  }
}

variable "service_annotations" {
  type        = map(string)
  default     = {}
  nullable    = false
  description = "Annotations of the gRPC Service, e.g. the cloud load balancer's kind and scheme."
}

variable "load_balancer_source_ranges" {
  type        = list(string)
  default     = []
  nullable    = false
  description = "With service_type LoadBalancer, the CIDR ranges allowed to reach it (the clusters' egress ranges). Empty: no restriction by the load balancer; the API still requires mutual TLS or the admin token."

  validation {
    condition     = alltrue([for c in var.load_balancer_source_ranges : can(cidrhost(c, 0))])
    error_message = "load_balancer_source_ranges ${jsonencode([for c in var.load_balancer_source_ranges : c if !can(cidrhost(c, 0))])} are not CIDR ranges such as \"10.0.0.0/8\"."
  }
}

variable "log_level" {
  type        = string
  default     = "info"
  description = "Log level of the replicas: debug, info, warn or error. Logs are JSON on stderr."

  validation {
    condition     = contains(["debug", "info", "warn", "error"], var.log_level)
    error_message = "log_level \"${var.log_level}\" is not one of debug, info, warn or error."
  }
}

variable "extra_args" {
  type        = list(string)
  default     = []
  nullable    = false
  description = "More `meshfed controlplane` flags (docs/controlplane.md), e.g. [\"--retain-revisions=50000\"] or the bundle endpoint's."

  validation {
    condition     = alltrue([for a in var.extra_args : can(regex("^--[a-z][-a-z]*(=.*)?$", a))])
    error_message = "extra_args ${jsonencode([for a in var.extra_args : a if !can(regex("^--[a-z][-a-z]*(=.*)?$", a))])} are not flags of the form --name or --name=value."
  }
}

variable "resources" {
  type = object({
    requests = optional(map(string), { cpu = "100m", memory = "128Mi" })
    limits   = optional(map(string), { memory = "1Gi" })
  })
  default     = {}
  nullable    = false
  description = "Resources of the control-plane container. Memory grows with the number of exports (about 3.4 KiB each, docs/ARCHITECTURE.md)."
}

variable "node_selector" {
  type        = map(string)
  default     = {}
  nullable    = false
  description = "Node labels the replicas must run on."
}

variable "labels" {
  type        = map(string)
  default     = {}
  nullable    = false
  description = "More labels of every object this module creates."
}

variable "wait_for_rollout" {
  type        = bool
  default     = true
  description = "Wait until the Deployment's replicas are ready (they are once etcd answers) before finishing the apply."
}
