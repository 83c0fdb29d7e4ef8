output "cluster_name" {
  description = "This cluster's name in the clusterset."
  value       = var.cluster_name
}

output "locality" {
  description = "The cluster's locality as registered: provider azure, region and zone."
  value       = { provider = "azure", region = var.region, zone = var.zone }
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
  description = "host:port addresses of the gateway's load balancer frontend as read after the install; empty until Azure has assigned one, and null when install_chart is false."
  value       = one(module.install[*].inbound_addresses)
}

output "load_balancer_annotations" {
  description = "Annotations set on the gateway's inbound Service."
  value       = local.load_balancer_annotations
}

output "plugin_identity_client_id" {
  description = "Client ID of the provider plugins' user-assigned managed identity (Reader), federated with the gateway's ServiceAccount; null when create_plugin_identity is false."
  value       = one(azurerm_user_assigned_identity.plugin[*].client_id)
}

output "plugin_identity_principal_id" {
  description = "Principal (object) ID of the provider plugins' managed identity; null when create_plugin_identity is false."
  value       = one(azurerm_user_assigned_identity.plugin[*].principal_id)
}

output "plugin_service_account" {
  description = "Kubernetes ServiceAccount bound to the plugin identity, as namespace/name."
  value       = "${var.namespace}/${local.gateway_service_account}"
}
