output "cluster_name" {
  description = "Name of the registered cluster, as `meshfed cluster list` shows it."
  value       = meshfed_cluster.this.name
}

output "trust_domain" {
  description = "SPIFFE trust domain of the registered cluster."
  value       = meshfed_cluster.this.trust_domain
}

output "locality" {
  description = "Locality the control plane holds for the cluster: provider, region and zone (null when none)."
  value       = meshfed_cluster.this.locality
}

output "created_at" {
  description = "When the control plane first stored the cluster (RFC 3339)."
  value       = meshfed_cluster.this.created_at
}

output "trust_bundle_sequence" {
  description = "spiffe_sequence of the trust bundle the control plane holds for the trust domain, when this module manages it (trust_bundle set); null otherwise."
  value       = one(meshfed_trust_domain.this[*].sequence)
}
