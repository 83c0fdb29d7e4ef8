# The control plane as three replicas on a Kubernetes cluster, against an
# external etcd cluster, exposed to the other clusters' gateways by an
# internal load balancer. Make its PKI once:
#
#   meshfed ca init --trust-domain meshfed.local --dir cp-pki
#   openssl rand -hex 32 > cp-pki/admin.token
#   meshfed ca issue --dir cp-pki --spiffe-id spiffe://meshfed.local/meshfed/admin/ops --out cp-pki/admin

terraform {
  required_version = ">= 1.5.0, < 2.0.0"

  required_providers {
    kubernetes = {
      source  = "hashicorp/kubernetes"
      version = "= 2.38.0"
    }
  }
}

variable "kube_context" {
  type        = string
  description = "kubeconfig context of the cluster that runs the control plane."
}

variable "etcd_endpoints" {
  type        = list(string)
  description = "Client URLs of the etcd members."
}

provider "kubernetes" {
  config_path    = "~/.kube/config"
  config_context = var.kube_context
}

module "controlplane" {
  source = "../.."

  etcd_endpoints       = var.etcd_endpoints
  etcd_ca_pem          = file("etcd/ca.pem")
  etcd_client_cert_pem = file("etcd/client.pem")
  etcd_client_key_pem  = file("etcd/client-key.pem")

  ca_cert_pem    = file("cp-pki/ca.pem")
  ca_key_pem     = file("cp-pki/ca-key.pem")
  admin_token    = trimspace(file("cp-pki/admin.token"))
  admin_cert_pem = file("cp-pki/admin.pem")
  admin_key_pem  = file("cp-pki/admin-key.pem")

  replicas     = 3
  service_type = "LoadBalancer"
  service_annotations = {
    "service.beta.kubernetes.io/aws-load-balancer-type"            = "external"
    "service.beta.kubernetes.io/aws-load-balancer-nlb-target-type" = "ip"
    "service.beta.kubernetes.io/aws-load-balancer-scheme"          = "internal"
  }
  load_balancer_source_ranges = ["10.0.0.0/8"]
}

output "control_plane" {
  description = "What the cluster modules take as control_plane (address once the load balancer has one)."
  value = {
    address   = try(module.controlplane.load_balancer_addresses[0], module.controlplane.address)
    ca_pem    = module.controlplane.ca_pem
    server_id = module.controlplane.server_id
  }
}
