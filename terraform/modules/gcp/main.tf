# meshfed on an existing GKE cluster: the gateway and the agent (../install)
# behind a passthrough Network Load Balancer (external, or internal with
# internal_load_balancer), a read-only Google service account for the
# provider plugins through GKE Workload Identity, and the cluster
# registered with the control plane (../register).

locals {
  gateway_service_account = "meshfed-gateway" # fixed by the chart
  workload_identity_pool  = coalesce(var.workload_identity_pool, "${var.project_id}.svc.id.goog")
  plugin_account_id       = coalesce(var.plugin_service_account_id, trim(substr("meshfed-${var.cluster_name}", 0, 30), "-"))

  # A LoadBalancer Service is an external passthrough Network Load
  # Balancer on GKE; the annotation makes it internal.
  load_balancer_annotations = merge(var.internal_load_balancer ? {
    "networking.gke.io/load-balancer-type"                         = "Internal"
    "networking.gke.io/internal-load-balancer-allow-global-access" = tostring(var.internal_load_balancer_global_access)
  } : {}, var.load_balancer_annotations)
}

module "register" {
  source = "../register"
  count  = var.register_cluster ? 1 : 0

  cluster_name      = var.cluster_name
  trust_domain      = var.trust_domain
  locality          = { provider = "gcp", region = var.region, zone = var.zone }
  labels            = var.labels
  gateway_addresses = var.gateway_addresses
  trust_bundle      = var.trust_bundle
}

resource "google_service_account" "plugin" {
  count = var.create_plugin_identity ? 1 : 0

  project      = var.project_id
  account_id   = local.plugin_account_id
  display_name = "meshfed provider plugins (${var.cluster_name})"
  description  = "Read-only GKE discovery for the meshfed provider plugins of cluster ${var.cluster_name}, used by ${var.namespace}/${local.gateway_service_account} through Workload Identity."
}

# What meshfed-provider-gcp calls (docs/providers.md): GKE clusters.list,
# which needs container.clusters.list; clusterViewer is the smallest
# predefined role with it. Locality and addresses come from the metadata
# server, which needs no role.
resource "google_project_iam_member" "plugin_cluster_viewer" {
  count = var.create_plugin_identity ? 1 : 0

  project = var.project_id
  role    = "roles/container.clusterViewer"
  member  = "serviceAccount:${google_service_account.plugin[0].email}"
}

resource "google_service_account_iam_member" "plugin_workload_identity" {
  count = var.create_plugin_identity ? 1 : 0

  service_account_id = google_service_account.plugin[0].name
  role               = "roles/iam.workloadIdentityUser"
  member             = "serviceAccount:${local.workload_identity_pool}[${var.namespace}/${local.gateway_service_account}]"
}

module "install" {
  source = "../install"
  count  = var.install_chart ? 1 : 0

  cluster_name         = var.cluster_name
  control_plane        = var.control_plane
  namespace            = var.namespace
  create_namespace     = var.create_namespace
  chart                = var.chart
  chart_repository     = var.chart_repository
  chart_version        = var.chart_version
  image                = var.image
  gateway_inbound_port = var.gateway_inbound_port
  gateway_advertise    = var.gateway_addresses
  service_type         = "LoadBalancer"
  service_annotations  = local.load_balancer_annotations
  gateway_identity     = var.gateway_identity
  agent_identity       = var.agent_identity
  helm_values          = var.helm_values
  skip_crds            = var.skip_crds
  wait                 = var.wait
  timeout              = var.timeout

  # GKE Workload Identity: the metadata server gives pods of an annotated
  # ServiceAccount the Google service account's tokens.
  gateway_service_account_annotations = var.create_plugin_identity ? {
    "iam.gke.io/gcp-service-account" = google_service_account.plugin[0].email
  } : {}

  # A gateway may connect only once its cluster is registered, and may ask
  # for its Google token once the binding exists.
  depends_on = [module.register, google_service_account_iam_member.plugin_workload_identity]
}
