# Registers one cluster with the meshfed control plane. The cloud modules
# (../aws, ../gcp, ../azure) call this module; it is also the whole module
# for a cluster on another cloud or on premises. It needs nothing but the
# meshfed provider, so it can be planned and applied without a cloud
# account (test/tfmodules does, against a real control plane).

resource "meshfed_trust_domain" "this" {
  count = var.trust_bundle == null ? 0 : 1

  trust_domain = var.trust_domain
  bundle       = var.trust_bundle
}

resource "meshfed_cluster" "this" {
  name         = var.cluster_name
  trust_domain = var.trust_domain

  locality = {
    provider = var.locality.provider
    region   = var.locality.region
    zone     = var.locality.zone
  }

  labels            = length(var.labels) == 0 ? null : var.labels
  gateway_addresses = length(var.gateway_addresses) == 0 ? null : var.gateway_addresses

  # A gateway of the cluster is verified against its trust domain's
  # bundle: store the bundle before the cluster can be used.
  depends_on = [meshfed_trust_domain.this]
}
