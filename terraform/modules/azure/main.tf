# meshfed on an existing AKS cluster: the gateway and the agent (../install)
# behind an Azure Standard Load Balancer (public, or internal with
# internal_load_balancer), a user-assigned managed identity with Reader for
# the provider plugins through Azure Workload Identity, and the cluster
# registered with the control plane (../register).

locals {
  gateway_service_account = "meshfed-gateway" # fixed by the chart
  plugin_subject          = "system:serviceaccount:${var.namespace}:${local.gateway_service_account}"
  plugin_identity_name    = coalesce(var.plugin_identity_name, "meshfed-${var.cluster_name}-plugin")

  # A LoadBalancer Service gets a public frontend on the cluster's
  # Standard Load Balancer; the annotations make it internal.
  load_balancer_annotations = merge(
    var.internal_load_balancer ? { "service.beta.kubernetes.io/azure-load-balancer-internal" = "true" } : {},
    var.internal_load_balancer && var.internal_load_balancer_subnet != null ? { "service.beta.kubernetes.io/azure-load-balancer-internal-subnet" = var.internal_load_balancer_subnet } : {},
    var.load_balancer_annotations,
  )
}

module "register" {
  source = "../register"
  count  = var.register_cluster ? 1 : 0

  cluster_name      = var.cluster_name
  trust_domain      = var.trust_domain
  locality          = { provider = "azure", region = var.region, zone = var.zone }
  labels            = var.labels
  gateway_addresses = var.gateway_addresses
  trust_bundle      = var.trust_bundle
}

data "azurerm_subscription" "current" {
  count = var.create_plugin_identity && var.plugin_role_scope == null ? 1 : 0
}

resource "azurerm_user_assigned_identity" "plugin" {
  count = var.create_plugin_identity ? 1 : 0

  name                = local.plugin_identity_name
  resource_group_name = var.resource_group_name
  location            = var.region
  tags                = var.tags

  lifecycle {
    precondition {
      condition     = var.resource_group_name != null && var.oidc_issuer_url != null
      error_message = "create_plugin_identity is true but resource_group_name (${var.resource_group_name == null ? "null" : var.resource_group_name}) or oidc_issuer_url (${var.oidc_issuer_url == null ? "null" : var.oidc_issuer_url}) is null: give both, or set create_plugin_identity = false."
    }
  }
}

resource "azurerm_federated_identity_credential" "plugin" {
  count = var.create_plugin_identity ? 1 : 0

  name                = "meshfed-gateway-${var.cluster_name}"
  resource_group_name = var.resource_group_name
  parent_id           = azurerm_user_assigned_identity.plugin[0].id
  audience            = ["api://AzureADTokenExchange"]
  issuer              = var.oidc_issuer_url
  subject             = local.plugin_subject
}

# What meshfed-provider-azure calls (docs/providers.md): ARM
# managedClusters list, which needs Microsoft.ContainerService/
# managedClusters/read; Reader is the predefined read-only role with it.
resource "azurerm_role_assignment" "plugin_reader" {
  count = var.create_plugin_identity ? 1 : 0

  scope                = coalesce(var.plugin_role_scope, one(data.azurerm_subscription.current[*].id))
  role_definition_name = "Reader"
  principal_id         = azurerm_user_assigned_identity.plugin[0].principal_id
  principal_type       = "ServicePrincipal"
  description          = "meshfed provider plugins of cluster ${var.cluster_name}: read-only AKS discovery."
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

  # Azure Workload Identity: the webhook injects the federated token (and
  # AZURE_CLIENT_ID, AZURE_TENANT_ID, AZURE_FEDERATED_TOKEN_FILE) into pods
  # labelled azure.workload.identity/use, for the identity named on their
  # ServiceAccount.
  gateway_service_account_annotations = var.create_plugin_identity ? {
    "azure.workload.identity/client-id" = azurerm_user_assigned_identity.plugin[0].client_id
    "azure.workload.identity/tenant-id" = azurerm_user_assigned_identity.plugin[0].tenant_id
  } : {}
  gateway_pod_labels = var.create_plugin_identity ? {
    "azure.workload.identity/use" = "true"
  } : {}

  # A gateway may connect only once its cluster is registered.
  depends_on = [module.register, azurerm_federated_identity_credential.plugin]
}
