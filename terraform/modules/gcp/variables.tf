variable "project_id" {
  type        = string
  description = "ID of the Google Cloud project of the GKE cluster: the plugins' service account is created in it and may list its clusters."

  validation {
    condition     = can(regex("^[a-z][-a-z0-9]{4,28}[a-z0-9]$", var.project_id)) || can(regex("^[a-z][-a-z0-9.]*:[a-z][-a-z0-9]{4,28}[a-z0-9]$", var.project_id))
    error_message = "project_id \"${var.project_id}\" is not a Google Cloud project ID (6-30 lowercase letters, digits or '-', starting with a letter)."
  }
}

variable "region" {
  type        = string
  description = "Google Cloud region of the GKE cluster, for example europe-west1: the region of the cluster's locality."

  validation {
    condition     = can(regex("^[a-z]+-[a-z]+[0-9]+$", var.region))
    error_message = "region \"${var.region}\" is not a Google Cloud region name such as \"europe-west1\"."
  }
}

variable "zone" {
  type        = string
  default     = null
  description = "Zone of the cluster's locality, for example europe-west1-b, for a zonal cluster. Null for a regional cluster."

  validation {
    condition     = var.zone == null || can(regex("^[a-z]+-[a-z]+[0-9]+-[a-z]$", var.zone))
    error_message = "zone \"${var.zone == null ? "" : var.zone}\" is not a Google Cloud zone name such as \"europe-west1-b\"."
  }
}

variable "workload_identity_pool" {
  type        = string
  default     = null
  description = "Workload Identity pool of the GKE cluster. Null: PROJECT_ID.svc.id.goog, the pool of clusters in project_id."

  validation {
    condition     = var.workload_identity_pool == null || can(regex("\\.svc\\.id\\.goog$", var.workload_identity_pool))
    error_message = "workload_identity_pool \"${var.workload_identity_pool == null ? "" : var.workload_identity_pool}\" is not a GKE Workload Identity pool such as \"my-project.svc.id.goog\"."
  }
}

variable "plugin_service_account_id" {
  type        = string
  default     = null
  description = "account_id of the provider plugins' Google service account. Null: meshfed-CLUSTER, cut to 30 characters."

  validation {
    condition     = var.plugin_service_account_id == null || can(regex("^[a-z][-a-z0-9]{4,28}[a-z0-9]$", var.plugin_service_account_id))
    error_message = "plugin_service_account_id \"${var.plugin_service_account_id == null ? "" : var.plugin_service_account_id}\" is not a service account ID (6-30 lowercase letters, digits or '-', starting with a letter)."
  }
}

variable "internal_load_balancer_global_access" {
  type        = bool
  default     = true
  description = "With internal_load_balancer, let clients in every region of the VPC reach the internal load balancer, not only those in region: gateways of the other clusters usually run elsewhere."
}

# Variables from here to the end of the file are declared identically in
# the aws, gcp and azure modules (test/tfmodules checks it).

variable "cluster_name" {
  type        = string
  description = "This cluster's name in the clusterset, a DNS-1123 label (1-63 lowercase letters, digits or '-'). It is the CLUSTER in the gateway's and the agent's SPIFFE IDs, spiffe://TRUST_DOMAIN/meshfed/gateway/CLUSTER/NAME."

  validation {
    condition     = can(regex("^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$", var.cluster_name))
    error_message = "cluster_name \"${var.cluster_name}\" is not a DNS-1123 label: use 1-63 lowercase letters, digits or '-', starting and ending with a letter or digit."
  }
}

variable "trust_domain" {
  type        = string
  description = "SPIFFE trust domain of the cluster's workloads and gateways, for example east.example.org; the trust domain of gateway_identity. It may not be the control plane's own (meshfed.local by default)."

  validation {
    condition     = length(var.trust_domain) <= 255 && can(regex("^[a-z0-9._-]+$", var.trust_domain))
    error_message = "trust_domain \"${var.trust_domain}\" is not a SPIFFE trust domain name: use at most 255 lowercase letters, digits, '.', '-' or '_', without a scheme or a path."
  }
}

variable "labels" {
  type        = map(string)
  default     = {}
  nullable    = false
  description = "Labels of the cluster in the control plane (Kubernetes-style keys and values, at most 64); failover policies select clusters by them."
}

variable "register_cluster" {
  type        = bool
  default     = true
  description = "Register the cluster with the control plane (meshfed_cluster through the meshfed provider, which the caller configures). Set to false when it is registered elsewhere, e.g. with `meshfed cluster add`."
}

variable "trust_bundle" {
  type        = string
  default     = null
  description = "The trust domain's bundle, a SPIFFE bundle document (JWKS) or PEM CA certificates, e.g. file(\"east-ca/bundle.json\") from `meshfed ca init`. When set (and register_cluster is true), the trust domain is managed too (meshfed_trust_domain); the gateways cannot connect until the control plane holds it. Leave it null when it is managed elsewhere."
}

variable "gateway_addresses" {
  type        = list(string)
  default     = []
  nullable    = false
  description = "host:port addresses the other clusters' gateways dial to reach this cluster's gateway, at most 16: typically the inbound load balancer's static address (see load_balancer_annotations) and gateway_inbound_port. Registered with the cluster and advertised by the gateway. Empty: the gateway's own default."

  validation {
    condition     = length(var.gateway_addresses) <= 16 && alltrue([for a in var.gateway_addresses : can(regex("^(\\[[0-9A-Fa-f:.]+\\]|[A-Za-z0-9_.-]+):[0-9]{1,5}$", a))])
    error_message = "gateway_addresses ${jsonencode(var.gateway_addresses)} must be at most 16 host:port addresses, for example \"gw.east.example.org:15443\"."
  }
}

variable "install_chart" {
  type        = bool
  default     = true
  description = "Install the gateway and the agent with the meshfed Helm chart (the helm and kubernetes providers, which the caller configures for this cluster). Set to false to manage only the cloud identity and the registration."
}

variable "control_plane" {
  type = object({
    address   = string
    ca_pem    = string
    server_id = optional(string, "spiffe://meshfed.local/meshfed/controlplane")
  })
  default     = null
  description = "Where the gateway and the agent find the control plane: address (host:port of its gRPC API as this cluster's pods reach it), ca_pem (its CA certificates, the ca.pem of its PKI directory) and server_id (its SPIFFE ID). Required when install_chart is true."
}

variable "namespace" {
  type        = string
  default     = "meshfed-system"
  description = "Namespace of the gateway, the agent and their identity Secrets; the workload identity is bound to the ServiceAccount meshfed-gateway in it."

  validation {
    condition     = can(regex("^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$", var.namespace))
    error_message = "namespace \"${var.namespace}\" is not a DNS-1123 label: use 1-63 lowercase letters, digits or '-', starting and ending with a letter or digit."
  }
}

variable "create_namespace" {
  type        = bool
  default     = true
  description = "Create the namespace. Set to false when it exists already."
}

variable "chart" {
  type        = string
  default     = null
  description = "The meshfed chart: a path to the chart directory or a packaged .tgz, or the chart's name in chart_repository. Null: deploy/helm/meshfed of the repository these modules are part of."
}

variable "chart_repository" {
  type        = string
  default     = null
  description = "Repository of a packaged chart (https:// or oci:// URL), with chart naming the chart in it. Null for a local chart."
}

variable "chart_version" {
  type        = string
  default     = null
  description = "Exact version of a packaged chart, for example \"0.1.0\"."
}

variable "image" {
  type        = string
  default     = null
  description = "meshfed container image of the gateway and the agent. Null: the chart's default, the image of the chart's version."
}

variable "gateway_inbound_port" {
  type        = number
  default     = 15443
  description = "The east-west mTLS port, on the gateway pods and on the inbound load balancer."

  validation {
    condition     = var.gateway_inbound_port >= 1 && var.gateway_inbound_port <= 65535 && floor(var.gateway_inbound_port) == var.gateway_inbound_port
    error_message = "gateway_inbound_port ${var.gateway_inbound_port} is not a port number in 1-65535."
  }
}

variable "gateway_identity" {
  type = object({
    cert_pem   = string
    key_pem    = string
    bundle_pem = string
  })
  default     = null
  sensitive   = true
  description = "The gateway's X.509-SVID, spiffe://TRUST_DOMAIN/meshfed/gateway/CLUSTER/gw: certificate chain, private key and the trust domain's CA bundle, PEM (e.g. from `meshfed ca issue`). When set, the Secret meshfed-gateway-identity is created from it, and the key is in the Terraform state: protect the state. Null: create the Secret some other way (cert-manager, External Secrets)."
}

variable "agent_identity" {
  type = object({
    cert_pem = string
    key_pem  = string
  })
  default     = null
  sensitive   = true
  description = "The agent's X.509-SVID, spiffe://TRUST_DOMAIN/meshfed/gateway/CLUSTER/agent: certificate chain and private key, PEM. When set, the Secret meshfed-agent-identity is created from it (the key is then in the Terraform state). Null: create the Secret some other way."
}

variable "helm_values" {
  type        = list(string)
  default     = []
  nullable    = false
  description = "More values for the chart, as YAML documents in the format of deploy/helm/meshfed/values.yaml (gateway and agent replicas and resources, import ports, cluster domain...), applied after this module's values."
}

variable "skip_crds" {
  type        = bool
  default     = false
  description = "Do not install the MCS CRDs (ServiceExport, ServiceImport), e.g. when another Multi-Cluster Services implementation owns them."
}

variable "wait" {
  type        = bool
  default     = true
  description = "Wait until the gateway and agent pods are ready and the inbound load balancer has an address, up to timeout seconds."
}

variable "timeout" {
  type        = number
  default     = 600
  description = "Seconds Helm waits for the release (with wait)."
}

variable "internal_load_balancer" {
  type        = bool
  default     = false
  description = "Expose the gateway's inbound port on an internal load balancer (reachable from peered or connected networks only) instead of an internet-facing one."
}

variable "load_balancer_annotations" {
  type        = map(string)
  default     = {}
  nullable    = false
  description = "More annotations of the inbound Service, merged over the ones this module sets: a static address, subnets, security groups, health checks..."
}

variable "create_plugin_identity" {
  type        = bool
  default     = true
  description = "Create a read-only cloud identity for the provider plugins (cluster discovery) and bind it to the gateway's ServiceAccount: IRSA on EKS, Workload Identity on GKE, Azure Workload Identity on AKS."
}
