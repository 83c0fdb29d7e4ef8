variable "cluster_name" {
  type        = string
  description = "This cluster's name in the clusterset, a DNS-1123 label, as registered with the control plane (meshfed_cluster, `meshfed cluster add`)."

  validation {
    condition     = can(regex("^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$", var.cluster_name))
    error_message = "cluster_name \"${var.cluster_name}\" is not a DNS-1123 label: use 1-63 lowercase letters, digits or '-', starting and ending with a letter or digit."
  }
}

variable "control_plane" {
  type = object({
    address   = string
    ca_pem    = string
    server_id = optional(string, "spiffe://meshfed.local/meshfed/controlplane")
  })
  default     = null
  description = "Where the gateway and the agent find the control plane: address (host:port of its gRPC API as this cluster's pods reach it), ca_pem (its CA certificates, the ca.pem of its PKI directory) and server_id (its SPIFFE ID). Required to install the chart."

  validation {
    condition     = var.control_plane == null || can(regex("^(\\[[0-9A-Fa-f:.]+\\]|[A-Za-z0-9_.-]+):[0-9]{1,5}$", var.control_plane.address))
    error_message = "control_plane.address \"${try(var.control_plane.address, "")}\" is not host:port, for example \"cp.example.com:15012\"."
  }

  validation {
    condition     = var.control_plane == null || can(regex("-----BEGIN CERTIFICATE-----", var.control_plane.ca_pem))
    error_message = "control_plane.ca_pem holds no PEM certificate; it starts with \"${substr(try(var.control_plane.ca_pem, ""), 0, 40)}\". Give the control plane's ca.pem, e.g. file(\"/var/lib/meshfed/pki/ca.pem\")."
  }

  validation {
    condition     = var.control_plane == null || can(regex("^spiffe://[a-z0-9._-]+/.+$", var.control_plane.server_id))
    error_message = "control_plane.server_id \"${try(var.control_plane.server_id, "")}\" is not a SPIFFE ID such as \"spiffe://meshfed.local/meshfed/controlplane\"."
  }
}

variable "image" {
  type        = string
  default     = null
  description = "meshfed container image of the gateway and the agent, for example ghcr.io/meshfed/meshfed:v0.1.0. Null: the chart's default, the image of the chart's version."

  validation {
    condition     = var.image == null || can(regex("^[^\\s]+$", var.image))
    error_message = "image \"${var.image == null ? "" : var.image}\" is not an image reference (no spaces), for example \"ghcr.io/meshfed/meshfed:v0.1.0\"."
  }
}

variable "gateway_inbound_port" {
  type        = number
  default     = 15443
  description = "The east-west mTLS port, on the gateway pods and on the inbound Service (and so on its load balancer)."

  validation {
    condition     = var.gateway_inbound_port >= 1 && var.gateway_inbound_port <= 65535 && floor(var.gateway_inbound_port) == var.gateway_inbound_port
    error_message = "gateway_inbound_port ${var.gateway_inbound_port} is not a port number in 1-65535."
  }
}

variable "gateway_advertise" {
  type        = list(string)
  default     = []
  nullable    = false
  description = "host:port addresses the other clusters' gateways dial to reach this one (the inbound load balancer's, e.g. a reserved static address), at most 16. Empty: the gateway's own default."

  validation {
    condition     = length(var.gateway_advertise) <= 16 && alltrue([for a in var.gateway_advertise : can(regex("^(\\[[0-9A-Fa-f:.]+\\]|[A-Za-z0-9_.-]+):[0-9]{1,5}$", a))])
    error_message = "gateway_advertise ${jsonencode(var.gateway_advertise)} must be at most 16 host:port addresses, for example \"gw.example.com:15443\"."
  }
}

variable "service_type" {
  type        = string
  default     = "LoadBalancer"
  description = "Type of the gateway's inbound Service: LoadBalancer, NodePort or ClusterIP."

  validation {
    condition     = contains(["LoadBalancer", "NodePort", "ClusterIP"], var.service_type)
    error_message = "service_type \"${var.service_type}\" is not one of LoadBalancer, NodePort or ClusterIP."
  }
}

variable "service_annotations" {
  type        = map(string)
  default     = {}
  nullable    = false
  description = "Annotations of the gateway's inbound Service, such as the cloud load balancer's kind and scheme."
}

variable "gateway_identity_secret" {
  type        = string
  default     = "meshfed-gateway-identity"
  description = "Name of the Secret with the gateway's identity (tls.crt, tls.key, bundle.pem), created from gateway_identity or made elsewhere."

  validation {
    condition     = length(var.gateway_identity_secret) <= 253 && can(regex("^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$", var.gateway_identity_secret))
    error_message = "gateway_identity_secret \"${var.gateway_identity_secret}\" is not a Kubernetes object name (a DNS subdomain: lowercase letters, digits, '-' and '.')."
  }
}

variable "agent_identity_secret" {
  type        = string
  default     = "meshfed-agent-identity"
  description = "Name of the Secret with the agent's identity (tls.crt, tls.key), created from agent_identity or made elsewhere."

  validation {
    condition     = length(var.agent_identity_secret) <= 253 && can(regex("^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$", var.agent_identity_secret))
    error_message = "agent_identity_secret \"${var.agent_identity_secret}\" is not a Kubernetes object name (a DNS subdomain: lowercase letters, digits, '-' and '.')."
  }
}

variable "gateway_service_account_annotations" {
  type        = map(string)
  default     = {}
  nullable    = false
  description = "Annotations of the gateway's ServiceAccount, meshfed-gateway, such as a workload identity binding (eks.amazonaws.com/role-arn, iam.gke.io/gcp-service-account, azure.workload.identity/client-id). Changing them rolls the gateway's pods."

  validation {
    condition     = alltrue([for k in keys(var.gateway_service_account_annotations) : can(regex("(?i)^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$", k))])
    error_message = "gateway_service_account_annotations ${jsonencode([for k in keys(var.gateway_service_account_annotations) : k if !can(regex("(?i)^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$", k))])} are not annotation names: use NAME or PREFIX/NAME, NAME at most 63 letters, digits, '-', '_' or '.' starting and ending with a letter or digit, PREFIX a DNS subdomain, for example \"example.com/team\"."
  }
}

variable "gateway_pod_labels" {
  type        = map(string)
  default     = {}
  nullable    = false
  description = "Labels added to the gateway's pods (not to its Deployment's selector), such as azure.workload.identity/use = \"true\" for Azure Workload Identity. The chart's own labels (app.kubernetes.io/name, component, part-of) cannot be set."

  validation {
    condition     = alltrue([for k, v in var.gateway_pod_labels : can(regex("^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$", k)) && can(regex("^([A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?)?$", v))])
    error_message = "gateway_pod_labels ${jsonencode({ for k, v in var.gateway_pod_labels : k => v if !(can(regex("^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$", k)) && can(regex("^([A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?)?$", v))) })} are not Kubernetes labels: keys are NAME or PREFIX/NAME (NAME at most 63 letters, digits, '-', '_' or '.', PREFIX a lowercase DNS subdomain), values at most 63 letters, digits, '-', '_' or '.' starting and ending with a letter or digit, or empty."
  }

  validation {
    condition     = length(setintersection(keys(var.gateway_pod_labels), ["app.kubernetes.io/name", "app.kubernetes.io/component", "app.kubernetes.io/part-of"])) == 0
    error_message = "gateway_pod_labels sets ${jsonencode(setintersection(keys(var.gateway_pod_labels), ["app.kubernetes.io/name", "app.kubernetes.io/component", "app.kubernetes.io/part-of"]))}, which the chart sets on the gateway pods itself (app.kubernetes.io/name selects them): remove it."
  }
}

variable "gateway_pod_annotations" {
  type        = map(string)
  default     = {}
  nullable    = false
  description = "Annotations of the gateway's pods."

  validation {
    condition     = alltrue([for k in keys(var.gateway_pod_annotations) : can(regex("(?i)^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$", k))])
    error_message = "gateway_pod_annotations ${jsonencode([for k in keys(var.gateway_pod_annotations) : k if !can(regex("(?i)^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$", k))])} are not annotation names: use NAME or PREFIX/NAME, NAME at most 63 letters, digits, '-', '_' or '.' starting and ending with a letter or digit, PREFIX a DNS subdomain, for example \"example.com/team\"."
  }
}

variable "agent_service_account_annotations" {
  type        = map(string)
  default     = {}
  nullable    = false
  description = "Annotations of the agent's ServiceAccount, meshfed-agent. Changing them rolls the agent's pods."

  validation {
    condition     = alltrue([for k in keys(var.agent_service_account_annotations) : can(regex("(?i)^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$", k))])
    error_message = "agent_service_account_annotations ${jsonencode([for k in keys(var.agent_service_account_annotations) : k if !can(regex("(?i)^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$", k))])} are not annotation names: use NAME or PREFIX/NAME, NAME at most 63 letters, digits, '-', '_' or '.' starting and ending with a letter or digit, PREFIX a DNS subdomain, for example \"example.com/team\"."
  }
}

variable "agent_pod_labels" {
  type        = map(string)
  default     = {}
  nullable    = false
  description = "Labels added to the agent's pods (not to its Deployment's selector). The chart's own labels (app.kubernetes.io/name, component, part-of) cannot be set."

  validation {
    condition     = alltrue([for k, v in var.agent_pod_labels : can(regex("^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$", k)) && can(regex("^([A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?)?$", v))])
    error_message = "agent_pod_labels ${jsonencode({ for k, v in var.agent_pod_labels : k => v if !(can(regex("^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$", k)) && can(regex("^([A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?)?$", v))) })} are not Kubernetes labels: keys are NAME or PREFIX/NAME (NAME at most 63 letters, digits, '-', '_' or '.', PREFIX a lowercase DNS subdomain), values at most 63 letters, digits, '-', '_' or '.' starting and ending with a letter or digit, or empty."
  }

  validation {
    condition     = length(setintersection(keys(var.agent_pod_labels), ["app.kubernetes.io/name", "app.kubernetes.io/component", "app.kubernetes.io/part-of"])) == 0
    error_message = "agent_pod_labels sets ${jsonencode(setintersection(keys(var.agent_pod_labels), ["app.kubernetes.io/name", "app.kubernetes.io/component", "app.kubernetes.io/part-of"]))}, which the chart sets on the agent pods itself (app.kubernetes.io/name selects them): remove it."
  }
}

variable "agent_pod_annotations" {
  type        = map(string)
  default     = {}
  nullable    = false
  description = "Annotations of the agent's pods."

  validation {
    condition     = alltrue([for k in keys(var.agent_pod_annotations) : can(regex("(?i)^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$", k))])
    error_message = "agent_pod_annotations ${jsonencode([for k in keys(var.agent_pod_annotations) : k if !can(regex("(?i)^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$", k))])} are not annotation names: use NAME or PREFIX/NAME, NAME at most 63 letters, digits, '-', '_' or '.' starting and ending with a letter or digit, PREFIX a DNS subdomain, for example \"example.com/team\"."
  }
}
