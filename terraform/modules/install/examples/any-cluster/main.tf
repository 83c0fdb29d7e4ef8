# Installs the gateway and the agent into any Kubernetes cluster reachable
# through a kubeconfig context (on premises, kind, a cloud without a module
# here), with identities issued by the dev CA:
#
#   meshfed ca init --trust-domain dc-1.example.org --dir dc-1-ca
#   meshfed ca issue --dir dc-1-ca --spiffe-id spiffe://dc-1.example.org/meshfed/gateway/dc-1/gw --out gw
#   meshfed ca issue --dir dc-1-ca --spiffe-id spiffe://dc-1.example.org/meshfed/gateway/dc-1/agent --out agent
#
# Register the cluster first (../../../register, or `meshfed cluster add`).

terraform {
  required_version = ">= 1.5.0, < 2.0.0"

  required_providers {
    helm = {
      source  = "hashicorp/helm"
      version = "= 2.17.0"
    }
    kubernetes = {
      source  = "hashicorp/kubernetes"
      version = "= 2.38.0"
    }
  }
}

variable "kube_context" {
  type        = string
  description = "kubeconfig context of the cluster to install into."
}

variable "control_plane_address" {
  type        = string
  description = "host:port of the control plane's gRPC API as the cluster's pods reach it."
}

variable "control_plane_ca_file" {
  type        = string
  description = "Path of the control plane's CA certificate (DATA_DIR/pki/ca.pem)."
}

provider "kubernetes" {
  config_path    = "~/.kube/config"
  config_context = var.kube_context
}

provider "helm" {
  kubernetes {
    config_path    = "~/.kube/config"
    config_context = var.kube_context
  }
}

module "meshfed" {
  source = "../.."

  cluster_name = "dc-1"
  control_plane = {
    address = var.control_plane_address
    ca_pem  = file(var.control_plane_ca_file)
  }
  gateway_identity = {
    cert_pem   = file("gw.pem")
    key_pem    = file("gw-key.pem")
    bundle_pem = file("dc-1-ca/ca.pem")
  }
  agent_identity = {
    cert_pem = file("agent.pem")
    key_pem  = file("agent-key.pem")
  }
  # No cloud load balancer here: expose the inbound port on every node.
  service_type      = "NodePort"
  gateway_advertise = ["gw.dc-1.example.org:15443"]
  # Let Prometheus scrape the gateway's admin port (/metrics).
  gateway_pod_annotations = {
    "prometheus.io/scrape" = "true"
    "prometheus.io/port"   = "15021"
  }
  helm_values = [yamlencode({
    agent = { replicas = 1 }
  })]
}

output "namespace" {
  description = "Namespace meshfed runs in."
  value       = module.meshfed.namespace
}
