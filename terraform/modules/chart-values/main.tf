# The values of the meshfed Helm chart (deploy/helm/meshfed/values.yaml)
# that the other modules set, computed without any provider: ../install
# passes them to helm_release, and another installer (Argo CD, Flux) can
# take them as a values file. Only what is set here is in the values, so
# the chart's defaults apply to the rest. test/tfmodules renders the chart
# with them (helm template, which checks the chart's values.schema.json).

locals {
  # Identity webhooks (IRSA, GKE, Azure) act when a pod is created, so a
  # change of a ServiceAccount's annotations must replace its pods: a pod
  # annotation derived from them does.
  gateway_pod_annotations = merge(var.gateway_pod_annotations, length(var.gateway_service_account_annotations) == 0 ? {} : {
    "meshfed.io/service-account-checksum" = sha256(jsonencode(var.gateway_service_account_annotations))
  })
  agent_pod_annotations = merge(var.agent_pod_annotations, length(var.agent_service_account_annotations) == 0 ? {} : {
    "meshfed.io/service-account-checksum" = sha256(jsonencode(var.agent_service_account_annotations))
  })

  values = merge(
    {
      cluster = var.cluster_name
      gateway = {
        inboundPort    = var.gateway_inbound_port
        advertise      = var.gateway_advertise
        identitySecret = var.gateway_identity_secret
        service = {
          type        = var.service_type
          annotations = var.service_annotations
        }
        serviceAccount = {
          annotations = var.gateway_service_account_annotations
        }
        podLabels      = var.gateway_pod_labels
        podAnnotations = local.gateway_pod_annotations
      }
      agent = {
        identitySecret = var.agent_identity_secret
        serviceAccount = {
          annotations = var.agent_service_account_annotations
        }
        podLabels      = var.agent_pod_labels
        podAnnotations = local.agent_pod_annotations
      }
    },
    var.control_plane == null ? {} : {
      controlPlane = {
        address  = var.control_plane.address
        ca       = var.control_plane.ca_pem
        serverID = var.control_plane.server_id
      }
    },
    var.image == null ? {} : { image = var.image },
  )
}
