# The values of the meshfed Helm chart (deploy/helm/meshfed/values.yaml)
# that the other modules set, computed without any provider: ../install
# passes them to helm_release, and another installer (Argo CD, Flux) can
# take them as a values file. Only what is set here is in the values, so
# the chart's defaults apply to the rest. test/tfmodules renders the chart
# with them (helm template, which checks the chart's values.schema.json).

locals {
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
      }
      agent = {
        identitySecret = var.agent_identity_secret
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
