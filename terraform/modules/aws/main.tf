# meshfed on an existing EKS cluster: the gateway and the agent (../install)
# behind an AWS Network Load Balancer, a read-only IAM role for the provider
# plugins through IRSA, and the cluster registered with the control plane
# (../register).

locals {
  gateway_service_account = "meshfed-gateway" # fixed by the chart
  plugin_subject          = "system:serviceaccount:${var.namespace}:${local.gateway_service_account}"

  # The issuer host and path IRSA tokens carry, from the provider's ARN.
  oidc_issuer = var.oidc_provider_arn == null ? "" : element(split(":oidc-provider/", var.oidc_provider_arn), 1)

  # An NLB with IP targets, provisioned by the AWS Load Balancer Controller.
  load_balancer_annotations = merge({
    "service.beta.kubernetes.io/aws-load-balancer-type"            = "external"
    "service.beta.kubernetes.io/aws-load-balancer-nlb-target-type" = "ip"
    "service.beta.kubernetes.io/aws-load-balancer-scheme"          = var.internal_load_balancer ? "internal" : "internet-facing"
  }, var.load_balancer_annotations)

  plugin_role_name = coalesce(var.plugin_role_name, substr("meshfed-${var.cluster_name}-plugin", 0, 64))
}

module "register" {
  source = "../register"
  count  = var.register_cluster ? 1 : 0

  cluster_name      = var.cluster_name
  trust_domain      = var.trust_domain
  locality          = { provider = "aws", region = var.region, zone = var.zone }
  labels            = var.labels
  gateway_addresses = var.gateway_addresses
  trust_bundle      = var.trust_bundle
}

resource "aws_iam_role" "plugin" {
  count = var.create_plugin_identity ? 1 : 0

  name                 = local.plugin_role_name
  path                 = var.plugin_role_path
  description          = "meshfed provider plugins of cluster ${var.cluster_name}: read-only EKS discovery, assumed by ${local.plugin_subject} through IRSA."
  permissions_boundary = var.plugin_role_permissions_boundary
  tags                 = var.tags

  assume_role_policy = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Sid       = "MeshfedGatewayIRSA"
      Effect    = "Allow"
      Action    = "sts:AssumeRoleWithWebIdentity"
      Principal = { Federated = var.oidc_provider_arn }
      Condition = {
        StringEquals = {
          "${local.oidc_issuer}:sub" = local.plugin_subject
          "${local.oidc_issuer}:aud" = "sts.amazonaws.com"
        }
      }
    }]
  })

  lifecycle {
    precondition {
      condition     = var.oidc_provider_arn != null
      error_message = "create_plugin_identity is true but oidc_provider_arn is null: give the ARN of the EKS cluster's IAM OIDC provider (for example module.eks.oidc_provider_arn), or set create_plugin_identity = false."
    }
  }
}

# What meshfed-provider-aws calls (docs/providers.md): EKS ListClusters and
# DescribeCluster. Locality and addresses come from the instance metadata
# service, which needs no permission.
resource "aws_iam_role_policy" "plugin" {
  count = var.create_plugin_identity ? 1 : 0

  name = "meshfed-provider-plugin-read-only"
  role = aws_iam_role.plugin[0].id
  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Sid      = "DiscoverEKSClusters"
      Effect   = "Allow"
      Action   = ["eks:ListClusters", "eks:DescribeCluster"]
      Resource = "*"
    }]
  })
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

  # IRSA: the EKS pod identity webhook gives pods of an annotated
  # ServiceAccount the role's web identity token.
  gateway_service_account_annotations = var.create_plugin_identity ? {
    "eks.amazonaws.com/role-arn"               = aws_iam_role.plugin[0].arn
    "eks.amazonaws.com/sts-regional-endpoints" = "true"
  } : {}

  # A gateway may connect only once its cluster is registered.
  depends_on = [module.register]
}
