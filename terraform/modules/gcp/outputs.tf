output "cluster_name" {
  description = "This cluster's name in the clusterset."
  value       = var.cluster_name
}

output "locality" {
  description = "The cluster's locality as registered: provider gcp, region and zone."
  value       = { provider = "gcp", region = var.region, zone = var.zone }
}

output "registered" {
  description = "Whether this module registered the cluster with the control plane (register_cluster)."
  value       = length(module.register) > 0
}

output "namespace" {
  description = "Namespace the gateway and the agent run in; null when install_chart is false."
  value       = one(module.install[*].namespace)
}

output "inbound_addresses" {
  description = "host:port addresses of the gateway's load balancer as read after the install; empty until Google Cloud has assigned one, and null when install_chart is false."
  value       = one(module.install[*].inbound_addresses)
}

output "load_balancer_annotations" {
  description = "Annotations set on the gateway's inbound Service."
  value       = local.load_balancer_annotations
}

output "plugin_service_account_email" {
  description = "Email of the provider plugins' read-only Google service account, used by the gateway's ServiceAccount through Workload Identity; null when create_plugin_identity is false."
  value       = one(google_service_account.plugin[*].email)
}

output "plugin_service_account" {
  description = "Kubernetes ServiceAccount bound to the plugin identity, as namespace/name."
  value       = "${var.namespace}/${local.gateway_service_account}"
}
