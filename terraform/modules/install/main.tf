# Installs the meshfed gateway and agent into one Kubernetes cluster with
# the Helm chart deploy/helm/meshfed: the namespace, the identity Secrets
# and the release. The cloud modules (../aws, ../gcp, ../azure) call it
# with their load balancer annotations and workload identity.

locals {
  # The chart of this repository, unless a packaged one is named.
  chart = coalesce(var.chart, "${path.module}/../../../deploy/helm/meshfed")

  # Object names fixed by the chart (deploy/objects.go).
  gateway_service_account = "meshfed-gateway"
  inbound_service         = "meshfed-gateway-inbound"

  namespace = var.create_namespace ? kubernetes_namespace_v1.this[0].metadata[0].name : var.namespace

  labels = {
    "app.kubernetes.io/part-of"    = "meshfed"
    "app.kubernetes.io/managed-by" = "terraform"
  }
}

module "values" {
  source = "../chart-values"

  cluster_name            = var.cluster_name
  control_plane           = var.control_plane
  image                   = var.image
  gateway_inbound_port    = var.gateway_inbound_port
  gateway_advertise       = var.gateway_advertise
  service_type            = var.service_type
  service_annotations     = var.service_annotations
  gateway_identity_secret = var.gateway_identity_secret
  agent_identity_secret   = var.agent_identity_secret

  gateway_service_account_annotations = var.gateway_service_account_annotations
  gateway_pod_labels                  = var.gateway_pod_labels
  gateway_pod_annotations             = var.gateway_pod_annotations
  agent_service_account_annotations   = var.agent_service_account_annotations
  agent_pod_labels                    = var.agent_pod_labels
  agent_pod_annotations               = var.agent_pod_annotations
}

resource "kubernetes_namespace_v1" "this" {
  count = var.create_namespace ? 1 : 0

  metadata {
    name = var.namespace
    labels = merge(local.labels, {
      # The gateway and agent pods meet the restricted Pod Security Standard.
      "pod-security.kubernetes.io/enforce" = "restricted"
    })
  }
}

resource "kubernetes_secret_v1" "gateway_identity" {
  count = var.gateway_identity == null ? 0 : 1

  metadata {
    name      = var.gateway_identity_secret
    namespace = local.namespace
    labels    = local.labels
  }
  type = "kubernetes.io/tls"
  data = {
    "tls.crt"    = var.gateway_identity.cert_pem
    "tls.key"    = var.gateway_identity.key_pem
    "bundle.pem" = var.gateway_identity.bundle_pem
  }
}

resource "kubernetes_secret_v1" "agent_identity" {
  count = var.agent_identity == null ? 0 : 1

  metadata {
    name      = var.agent_identity_secret
    namespace = local.namespace
    labels    = local.labels
  }
  type = "kubernetes.io/tls"
  data = {
    "tls.crt" = var.agent_identity.cert_pem
    "tls.key" = var.agent_identity.key_pem
  }
}

resource "helm_release" "this" {
  name             = var.release_name
  namespace        = local.namespace
  create_namespace = false
  chart            = local.chart
  repository       = var.chart_repository
  version          = var.chart_version
  skip_crds        = var.skip_crds
  wait             = var.wait
  timeout          = var.timeout
  atomic           = false
  max_history      = 10

  values = concat([module.values.yaml], var.helm_values)

  # The pods mount the identity Secrets: create them first.
  depends_on = [kubernetes_secret_v1.gateway_identity, kubernetes_secret_v1.agent_identity]
}

data "kubernetes_service_v1" "inbound" {
  metadata {
    name      = local.inbound_service
    namespace = local.namespace
  }

  depends_on = [helm_release.this]
}

locals {
  ingress = try(data.kubernetes_service_v1.inbound.status[0].load_balancer[0].ingress, [])
  inbound_addresses = [
    for i in local.ingress : "${coalesce(i.hostname, i.ip)}:${var.gateway_inbound_port}"
  ]
}
