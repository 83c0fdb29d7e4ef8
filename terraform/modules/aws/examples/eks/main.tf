# meshfed on an existing EKS cluster, from nothing to a registered cluster
# (docs/terraform.md walks through it):
#
#   meshfed ca init --trust-domain east.example.org --dir east-ca
#   meshfed ca issue --dir east-ca --spiffe-id spiffe://east.example.org/meshfed/gateway/east/gw --out gw
#   meshfed ca issue --dir east-ca --spiffe-id spiffe://east.example.org/meshfed/gateway/east/agent --out agent
#   terraform apply -var eks_cluster_name=prod-east -var meshfed_config=meshfed.yaml \
#     -var control_plane_address=cp.example.org:15012 -var control_plane_ca_file=cp-ca.pem
#
# The AWS Load Balancer Controller must run in the cluster (it provisions
# the NLB), and the cluster needs an IAM OIDC provider (IRSA).

terraform {
  required_version = ">= 1.5.0, < 2.0.0"

  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = "= 6.10.0"
    }
    helm = {
      source  = "hashicorp/helm"
      version = "= 2.17.0"
    }
    kubernetes = {
      source  = "hashicorp/kubernetes"
      version = "= 2.38.0"
    }
    meshfed = {
      source  = "meshfed/meshfed"
      version = "= 0.1.0"
    }
  }
}

variable "region" {
  type        = string
  default     = "us-east-1"
  description = "AWS region of the EKS cluster."
}

variable "eks_cluster_name" {
  type        = string
  description = "Name of the existing EKS cluster."
}

variable "meshfed_config" {
  type        = string
  description = "Path of an admin meshfed.yaml of the control plane (for the meshfed provider)."
}

variable "control_plane_address" {
  type        = string
  description = "host:port of the control plane's gRPC API as the cluster's pods reach it."
}

variable "control_plane_ca_file" {
  type        = string
  description = "Path of the control plane's CA certificate."
}

provider "aws" {
  region = var.region
}

data "aws_eks_cluster" "this" {
  name = var.eks_cluster_name
}

data "aws_iam_openid_connect_provider" "this" {
  url = data.aws_eks_cluster.this.identity[0].oidc[0].issuer
}

provider "kubernetes" {
  host                   = data.aws_eks_cluster.this.endpoint
  cluster_ca_certificate = base64decode(data.aws_eks_cluster.this.certificate_authority[0].data)
  exec {
    api_version = "client.authentication.k8s.io/v1beta1"
    command     = "aws"
    args        = ["eks", "get-token", "--cluster-name", var.eks_cluster_name, "--region", var.region]
  }
}

provider "helm" {
  kubernetes {
    host                   = data.aws_eks_cluster.this.endpoint
    cluster_ca_certificate = base64decode(data.aws_eks_cluster.this.certificate_authority[0].data)
    exec {
      api_version = "client.authentication.k8s.io/v1beta1"
      command     = "aws"
      args        = ["eks", "get-token", "--cluster-name", var.eks_cluster_name, "--region", var.region]
    }
  }
}

provider "meshfed" {
  config_path = var.meshfed_config
}

module "meshfed_east" {
  source = "../.."

  cluster_name      = "east"
  trust_domain      = "east.example.org"
  region            = var.region
  oidc_provider_arn = data.aws_iam_openid_connect_provider.this.arn
  trust_bundle      = file("east-ca/bundle.json")

  control_plane = {
    address = var.control_plane_address
    ca_pem  = file(var.control_plane_ca_file)
  }
  gateway_identity = {
    cert_pem   = file("gw.pem")
    key_pem    = file("gw-key.pem")
    bundle_pem = file("east-ca/ca.pem")
  }
  agent_identity = {
    cert_pem = file("agent.pem")
    key_pem  = file("agent-key.pem")
  }

  internal_load_balancer = false
  tags                   = { project = "meshfed" }
}

output "inbound_addresses" {
  description = "Where the other clusters' gateways reach this one (the NLB)."
  value       = module.meshfed_east.inbound_addresses
}

output "plugin_role_arn" {
  description = "The provider plugins' read-only IAM role."
  value       = module.meshfed_east.plugin_role_arn
}
