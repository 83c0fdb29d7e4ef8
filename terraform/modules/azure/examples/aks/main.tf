# meshfed on an existing AKS cluster (OIDC issuer and workload identity
# enabled), from nothing to a registered cluster; docs/terraform.md
# walks through it.

terraform {
  required_version = ">= 1.5.0, < 2.0.0"

  required_providers {
    azurerm = {
      source  = "hashicorp/azurerm"
      version = "= 4.50.0"
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

variable "subscription_id" {
  type        = string
  description = "Subscription of the AKS cluster."
}

variable "resource_group_name" {
  type        = string
  description = "Resource group of the AKS cluster; the plugins' identity is created in it."
}

variable "aks_cluster_name" {
  type        = string
  description = "Name of the existing AKS cluster."
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

provider "azurerm" {
  features {}
  subscription_id = var.subscription_id
}

data "azurerm_kubernetes_cluster" "this" {
  name                = var.aks_cluster_name
  resource_group_name = var.resource_group_name
}

provider "kubernetes" {
  host                   = data.azurerm_kubernetes_cluster.this.kube_config[0].host
  client_certificate     = base64decode(data.azurerm_kubernetes_cluster.this.kube_config[0].client_certificate)
  client_key             = base64decode(data.azurerm_kubernetes_cluster.this.kube_config[0].client_key)
  cluster_ca_certificate = base64decode(data.azurerm_kubernetes_cluster.this.kube_config[0].cluster_ca_certificate)
}

provider "helm" {
  kubernetes {
    host                   = data.azurerm_kubernetes_cluster.this.kube_config[0].host
    client_certificate     = base64decode(data.azurerm_kubernetes_cluster.this.kube_config[0].client_certificate)
    client_key             = base64decode(data.azurerm_kubernetes_cluster.this.kube_config[0].client_key)
    cluster_ca_certificate = base64decode(data.azurerm_kubernetes_cluster.this.kube_config[0].cluster_ca_certificate)
  }
}

provider "meshfed" {
  config_path = var.meshfed_config
}

module "meshfed_north" {
  source = "../.."

  cluster_name        = "north"
  trust_domain        = "north.example.org"
  region              = data.azurerm_kubernetes_cluster.this.location
  resource_group_name = var.resource_group_name
  oidc_issuer_url     = data.azurerm_kubernetes_cluster.this.oidc_issuer_url
  trust_bundle        = file("north-ca/bundle.json")

  control_plane = {
    address = var.control_plane_address
    ca_pem  = file(var.control_plane_ca_file)
  }
  gateway_identity = {
    cert_pem   = file("gw.pem")
    key_pem    = file("gw-key.pem")
    bundle_pem = file("north-ca/ca.pem")
  }
  agent_identity = {
    cert_pem = file("agent.pem")
    key_pem  = file("agent-key.pem")
  }

  internal_load_balancer = false
  tags                   = { project = "meshfed" }
}

output "plugin_identity_client_id" {
  description = "Client ID of the provider plugins' managed identity."
  value       = module.meshfed_north.plugin_identity_client_id
}
