output "namespace" {
  description = "Namespace the gateway and the agent run in."
  value       = helm_release.this.namespace
}

output "release_name" {
  description = "Name of the Helm release."
  value       = helm_release.this.name
}

output "chart_version" {
  description = "Version of the installed meshfed chart."
  value       = helm_release.this.metadata[0].version
}

output "gateway_service_account" {
  description = "Kubernetes ServiceAccount the gateway (and so the provider plugins it starts) runs under, as namespace/name."
  value       = "${helm_release.this.namespace}/${local.gateway_service_account}"
}

output "inbound_service" {
  description = "The gateway's inbound Service, which the other clusters' gateways dial, as namespace/name."
  value       = "${helm_release.this.namespace}/${local.inbound_service}"
}

output "inbound_addresses" {
  description = "host:port addresses of the inbound Service's load balancer, as read after the install; empty until the cloud has assigned one (with wait = false), and for a Service that is not of type LoadBalancer."
  value       = local.inbound_addresses
}
