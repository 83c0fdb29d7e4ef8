# Registers an on-premises cluster and its trust bundle with a meshfed
# control plane. test/tfmodules applies this example against a real control
# plane.
#
#   meshfed ca init --trust-domain dc-1.example.org --dir dc-1-ca
#   terraform apply -var meshfed_config=/var/lib/meshfed/meshfed.yaml -var bundle_file=dc-1-ca/bundle.json

terraform {
  required_version = ">= 1.5.0, < 2.0.0"

  required_providers {
    meshfed = {
      source  = "meshfed/meshfed"
      version = "= 0.1.0"
    }
  }
}

variable "meshfed_config" {
  type        = string
  description = "Path of the admin meshfed.yaml that `meshfed controlplane` wrote into its --data-dir."
}

variable "bundle_file" {
  type        = string
  default     = null
  description = "Path of the trust domain's bundle (bundle.json of `meshfed ca init`); null when the bundle is managed elsewhere."
}

provider "meshfed" {
  config_path = var.meshfed_config
}

module "dc_1" {
  source = "../.."

  cluster_name      = "dc-1"
  trust_domain      = "dc-1.example.org"
  locality          = { provider = "onprem", region = "fra", zone = "fra-2" }
  labels            = { tier = "production" }
  gateway_addresses = ["gw.dc-1.example.org:15443"]
  trust_bundle      = var.bundle_file == null ? null : file(var.bundle_file)
}

output "cluster" {
  description = "The registered cluster's name, trust domain and locality."
  value = {
    name         = module.dc_1.cluster_name
    trust_domain = module.dc_1.trust_domain
    locality     = module.dc_1.locality
  }
}
