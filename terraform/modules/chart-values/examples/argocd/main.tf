# The meshfed chart's values for a cluster, for Argo CD, Flux or
# `helm install -f`:
#
#   terraform apply -var control_plane_ca_file=cp-ca.pem
#   terraform output -raw values_yaml > meshfed-east-values.yaml
#
# test/tfmodules applies this example and renders the chart with the result.

terraform {
  required_version = ">= 1.5.0, < 2.0.0"
}

variable "control_plane_ca_file" {
  type        = string
  description = "Path of the control plane's CA certificate."
}

module "values" {
  source = "../.."

  cluster_name = "east"
  control_plane = {
    address = "cp.example.org:15012"
    ca_pem  = file(var.control_plane_ca_file)
  }
  gateway_advertise = ["gw.east.example.org:15443"]
  service_annotations = {
    "service.beta.kubernetes.io/aws-load-balancer-type"            = "external"
    "service.beta.kubernetes.io/aws-load-balancer-nlb-target-type" = "ip"
    "service.beta.kubernetes.io/aws-load-balancer-scheme"          = "internal"
  }
  # The provider plugins' AWS identity (IRSA) on the gateway's ServiceAccount.
  gateway_service_account_annotations = {
    "eks.amazonaws.com/role-arn" = "arn:aws:iam::123456789012:role/meshfed-east-plugin"
  }
  agent_pod_labels = {
    "example.org/team" = "platform"
  }
}

output "values_yaml" {
  description = "The values file, YAML."
  value       = module.values.yaml
}
