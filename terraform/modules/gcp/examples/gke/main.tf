# meshfed on an existing GKE cluster (Workload Identity enabled), from
# nothing to a registered cluster; docs/terraform.md walks through
# it. The gateway's internal load balancer gets a reserved static address,
# so the cluster is registered with its final gateway address in one apply.

terraform {
  required_version = ">= 1.5.0, < 2.0.0"

  required_providers {
    google = {
      source  = "hashicorp/google"
      version = "= 6.50.0"
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

variable "project_id" {
  type        = string
  description = "Project of the GKE cluster."
}

variable "region" {
  type        = string
  default     = "europe-west1"
  description = "Region of the GKE cluster (a regional cluster)."
}

variable "gke_cluster_name" {
  type        = string
  description = "Name of the existing GKE cluster."
}

variable "subnetwork" {
  type        = string
  description = "Self link of the cluster's subnetwork, where the gateway's internal address is reserved."
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

provider "google" {
  project = var.project_id
  region  = var.region
}

data "google_client_config" "this" {}

data "google_container_cluster" "this" {
  name     = var.gke_cluster_name
  location = var.region
}

provider "kubernetes" {
  host                   = "https://${data.google_container_cluster.this.endpoint}"
  token                  = data.google_client_config.this.access_token
  cluster_ca_certificate = base64decode(data.google_container_cluster.this.master_auth[0].cluster_ca_certificate)
}

provider "helm" {
  kubernetes {
    host                   = "https://${data.google_container_cluster.this.endpoint}"
    token                  = data.google_client_config.this.access_token
    cluster_ca_certificate = base64decode(data.google_container_cluster.this.master_auth[0].cluster_ca_certificate)
  }
}

provider "meshfed" {
  config_path = var.meshfed_config
}

resource "google_compute_address" "gateway" {
  name         = "meshfed-west-gateway"
  region       = var.region
  address_type = "INTERNAL"
  subnetwork   = var.subnetwork
}

module "meshfed_west" {
  source = "../.."

  cluster_name = "west"
  trust_domain = "west.example.org"
  project_id   = var.project_id
  region       = var.region
  trust_bundle = file("west-ca/bundle.json")

  control_plane = {
    address = var.control_plane_address
    ca_pem  = file(var.control_plane_ca_file)
  }
  gateway_identity = {
    cert_pem   = file("gw.pem")
    key_pem    = file("gw-key.pem")
    bundle_pem = file("west-ca/ca.pem")
  }
  agent_identity = {
    cert_pem = file("agent.pem")
    key_pem  = file("agent-key.pem")
  }

  internal_load_balancer = true
  load_balancer_annotations = {
    "networking.gke.io/load-balancer-ip-addresses" = google_compute_address.gateway.name
  }
  gateway_addresses = ["${google_compute_address.gateway.address}:15443"]
}

output "plugin_service_account_email" {
  description = "The provider plugins' read-only Google service account."
  value       = module.meshfed_west.plugin_service_account_email
}
