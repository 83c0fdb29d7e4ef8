output "namespace" {
  description = "Namespace of the control plane."
  value       = local.namespace
}

output "service_name" {
  description = "Name of the control plane's gRPC Service."
  value       = kubernetes_service_v1.this.metadata[0].name
}

output "address" {
  description = "host:port of the gRPC API inside the cluster the control plane runs in (the Service's DNS name)."
  value       = "${kubernetes_service_v1.this.metadata[0].name}.${local.namespace}.svc:${var.grpc_port}"
}

output "load_balancer_addresses" {
  description = "host:port addresses of the Service's load balancer, with service_type LoadBalancer: what the other clusters' gateways dial (control_plane.address of the cluster modules). Empty otherwise."
  value = [
    for i in try(kubernetes_service_v1.this.status[0].load_balancer[0].ingress, []) :
    "${coalesce(i.hostname, i.ip)}:${var.grpc_port}"
  ]
}

output "server_id" {
  description = "SPIFFE ID the control plane presents, control_plane.server_id of the cluster modules and server_id of the meshfed provider."
  value       = "spiffe://${var.trust_domain}/meshfed/controlplane"
}

output "ca_pem" {
  description = "The control plane's CA certificate (ca_cert_pem), control_plane.ca_pem of the cluster modules."
  value       = var.ca_cert_pem
}
