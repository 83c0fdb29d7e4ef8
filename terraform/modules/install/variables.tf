variable "cluster_name" {
  type        = string
  description = "This cluster's name in the clusterset, a DNS-1123 label, as registered with the control plane (meshfed_cluster, `meshfed cluster add`)."
}

variable "control_plane" {
  type = object({
    address   = string
    ca_pem    = string
    server_id = optional(string, "spiffe://meshfed.local/meshfed/controlplane")
  })
  default     = null
  description = "Where the gateway and the agent find the control plane: address (host:port of its gRPC API as this cluster's pods reach it), ca_pem (its CA certificates, the ca.pem of its PKI directory) and server_id (its SPIFFE ID). Required to install the chart."
}

variable "namespace" {
  type        = string
  default     = "meshfed-system"
  description = "Namespace of the gateway, the agent, their identity Secrets and the Helm release."

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

variable "release_name" {
  type        = string
  default     = "meshfed"
  description = "Name of the Helm release. The chart's object names are fixed, so a cluster holds one release."

  validation {
    condition     = can(regex("^[a-z0-9]([-a-z0-9]{0,51}[a-z0-9])?$", var.release_name))
    error_message = "release_name \"${var.release_name}\" is not a Helm release name: use 1-53 lowercase letters, digits or '-', starting and ending with a letter or digit."
  }
}

variable "chart" {
  type        = string
  default     = null
  description = "The meshfed chart: a path to the chart directory or a packaged .tgz, or the chart's name in chart_repository. Null: deploy/helm/meshfed of the repository this module is part of."
}

variable "chart_repository" {
  type        = string
  default     = null
  description = "Repository of a packaged chart (https:// or oci:// URL), with chart naming the chart in it. Null for a local chart."

  validation {
    condition     = var.chart_repository == null || can(regex("^(https?|oci)://", var.chart_repository))
    error_message = "chart_repository \"${var.chart_repository == null ? "" : var.chart_repository}\" is not an https://, http:// or oci:// URL."
  }
}

variable "chart_version" {
  type        = string
  default     = null
  description = "Exact version of a packaged chart, for example \"0.1.0\". Null: the local chart as it is, or the repository's latest."

  validation {
    condition     = var.chart_version == null || can(regex("^v?[0-9]+\\.[0-9]+\\.[0-9]+([-+][0-9A-Za-z.-]+)?$", var.chart_version))
    error_message = "chart_version \"${var.chart_version == null ? "" : var.chart_version}\" is not an exact semantic version such as \"0.1.0\"."
  }
}

variable "image" {
  type        = string
  default     = null
  description = "meshfed container image of the gateway and the agent, for example ghcr.io/meshfed/meshfed:v0.1.0. Null: the chart's default, the image of the chart's version."
}

variable "gateway_inbound_port" {
  type        = number
  default     = 15443
  description = "The east-west mTLS port, on the gateway pods and on the inbound Service (and so on its load balancer)."
}

variable "gateway_advertise" {
  type        = list(string)
  default     = []
  nullable    = false
  description = "host:port addresses the other clusters' gateways dial to reach this one (the inbound load balancer's, e.g. a reserved static address), at most 16. Empty: the gateway's own default."
}

variable "service_type" {
  type        = string
  default     = "LoadBalancer"
  description = "Type of the gateway's inbound Service: LoadBalancer, NodePort or ClusterIP."
}

variable "service_annotations" {
  type        = map(string)
  default     = {}
  nullable    = false
  description = "Annotations of the gateway's inbound Service, such as the cloud load balancer's kind and scheme."
}

variable "gateway_identity" {
  type = object({
    cert_pem   = string
    key_pem    = string
    bundle_pem = string
  })
  default     = null
  sensitive   = true
  description = "The gateway's X.509-SVID, spiffe://TRUST_DOMAIN/meshfed/gateway/CLUSTER/gw: certificate chain, private key and the trust domain's CA bundle, all PEM (e.g. from `meshfed ca issue`). When set, this module creates the Secret gateway_identity_secret from it (the key is then in the Terraform state: protect the state). Null: the Secret is made some other way (cert-manager, External Secrets, `meshfed install`)."

  validation {
    condition = var.gateway_identity == null || (
      can(regex("-----BEGIN CERTIFICATE-----", var.gateway_identity.cert_pem)) &&
      can(regex("-----BEGIN [A-Z ]*PRIVATE KEY-----", var.gateway_identity.key_pem)) &&
      can(regex("-----BEGIN CERTIFICATE-----", var.gateway_identity.bundle_pem))
    )
    error_message = "gateway_identity must hold PEM: cert_pem and bundle_pem a CERTIFICATE block each, key_pem a PRIVATE KEY block (the values are sensitive and not shown)."
  }
}

variable "agent_identity" {
  type = object({
    cert_pem = string
    key_pem  = string
  })
  default     = null
  sensitive   = true
  description = "The agent's X.509-SVID, spiffe://TRUST_DOMAIN/meshfed/gateway/CLUSTER/agent: certificate chain and private key, PEM. When set, this module creates the Secret agent_identity_secret from it (the key is then in the Terraform state). Null: the Secret is made some other way."

  validation {
    condition = var.agent_identity == null || (
      can(regex("-----BEGIN CERTIFICATE-----", var.agent_identity.cert_pem)) &&
      can(regex("-----BEGIN [A-Z ]*PRIVATE KEY-----", var.agent_identity.key_pem))
    )
    error_message = "agent_identity must hold PEM: cert_pem a CERTIFICATE block, key_pem a PRIVATE KEY block (the values are sensitive and not shown)."
  }
}

variable "gateway_identity_secret" {
  type        = string
  default     = "meshfed-gateway-identity"
  description = "Name of the Secret with the gateway's identity (tls.crt, tls.key, bundle.pem), created from gateway_identity or made elsewhere."
}

variable "agent_identity_secret" {
  type        = string
  default     = "meshfed-agent-identity"
  description = "Name of the Secret with the agent's identity (tls.crt, tls.key), created from agent_identity or made elsewhere."
}

variable "gateway_service_account_annotations" {
  type        = map(string)
  default     = {}
  nullable    = false
  description = "Annotations of the gateway's ServiceAccount, meshfed-gateway, such as a workload identity binding (eks.amazonaws.com/role-arn, iam.gke.io/gcp-service-account, azure.workload.identity/client-id). Changing them rolls the gateway's pods."
}

variable "gateway_pod_labels" {
  type        = map(string)
  default     = {}
  nullable    = false
  description = "Labels added to the gateway's pods (not to its Deployment's selector), such as azure.workload.identity/use = \"true\" for Azure Workload Identity. The chart's own labels (app.kubernetes.io/name, component, part-of) cannot be set."
}

variable "gateway_pod_annotations" {
  type        = map(string)
  default     = {}
  nullable    = false
  description = "Annotations of the gateway's pods."
}

variable "agent_service_account_annotations" {
  type        = map(string)
  default     = {}
  nullable    = false
  description = "Annotations of the agent's ServiceAccount, meshfed-agent. Changing them rolls the agent's pods."
}

variable "agent_pod_labels" {
  type        = map(string)
  default     = {}
  nullable    = false
  description = "Labels added to the agent's pods (not to its Deployment's selector). The chart's own labels (app.kubernetes.io/name, component, part-of) cannot be set."
}

variable "agent_pod_annotations" {
  type        = map(string)
  default     = {}
  nullable    = false
  description = "Annotations of the agent's pods."
}

variable "helm_values" {
  type        = list(string)
  default     = []
  nullable    = false
  description = "More values files for the chart, as YAML documents in the format of deploy/helm/meshfed/values.yaml (replicas, resources, import ports, cluster domain...), applied after this module's values."

  validation {
    condition     = alltrue([for v in var.helm_values : can(yamldecode(v))])
    error_message = "helm_values ${jsonencode([for v in var.helm_values : substr(v, 0, 60) if !can(yamldecode(v))])} are not YAML documents."
  }
}

variable "skip_crds" {
  type        = bool
  default     = false
  description = "Do not install the MCS CRDs (ServiceExport, ServiceImport) from the chart, e.g. when another Multi-Cluster Services implementation owns them. Helm installs CRDs once and never upgrades them."
}

variable "wait" {
  type        = bool
  default     = true
  description = "Wait until the gateway and agent pods are ready and the inbound load balancer has an address (up to timeout seconds). The pods become ready once the identity Secrets exist and the control plane knows the cluster."
}

variable "timeout" {
  type        = number
  default     = 600
  description = "Seconds Helm waits for the release (with wait)."

  validation {
    condition     = var.timeout > 0
    error_message = "timeout ${var.timeout} must be a positive number of seconds."
  }
}
