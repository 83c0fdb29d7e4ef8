output "values" {
  description = "The chart's values this module sets, as an object in the shape of values.yaml."
  value       = local.values

  precondition {
    condition     = var.control_plane != null
    error_message = "control_plane is required by the chart: give its address (host:port as the pods reach it), ca_pem (the control plane's ca.pem) and server_id."
  }
}

output "yaml" {
  description = "The same values as a YAML document, a values file for helm or another installer."
  value       = yamlencode(local.values)

  precondition {
    condition     = var.control_plane != null
    error_message = "control_plane is required by the chart: give its address (host:port as the pods reach it), ca_pem (the control plane's ca.pem) and server_id."
  }
}
