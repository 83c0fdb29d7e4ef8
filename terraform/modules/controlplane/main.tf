# The meshfed control plane as a Deployment of stateless replicas on an
# existing Kubernetes cluster, against an external etcd cluster
# (docs/controlplane.md, "Highly available"). Every replica serves the
# admin and gateway gRPC API; the replicas share one PKI (CA, admin token),
# given to this module and kept in a Secret.

locals {
  labels = merge(var.labels, {
    "app.kubernetes.io/name"       = var.name
    "app.kubernetes.io/component"  = "controlplane"
    "app.kubernetes.io/part-of"    = "meshfed"
    "app.kubernetes.io/managed-by" = "terraform"
  })
  selector = { "app.kubernetes.io/name" = var.name }

  namespace = var.create_namespace ? kubernetes_namespace_v1.this[0].metadata[0].name : var.namespace

  data_dir = "/var/lib/meshfed"
  pki_dir  = "/var/lib/meshfed/pki"
  etcd_dir = "/etc/meshfed/etcd"

  # Files of the PKI directory (federation/controlplane/pki.go). Each is
  # mounted alone into a writable directory: the control plane writes a
  # fresh server certificate there at every start.
  pki_files = merge(
    {
      "ca.pem"      = var.ca_cert_pem
      "ca-key.pem"  = var.ca_key_pem
      "admin.token" = "${var.admin_token}\n"
    },
    var.admin_cert_pem == null ? {} : {
      "admin.pem"     = var.admin_cert_pem
      "admin-key.pem" = var.admin_key_pem
    },
  )

  # The names alone, which are not sensitive, for the mounts.
  pki_file_names = concat(["ca.pem", "ca-key.pem", "admin.token"], var.admin_cert_pem == null ? [] : ["admin.pem", "admin-key.pem"])

  etcd_files = merge(
    var.etcd_ca_pem == null ? {} : { "ca.pem" = var.etcd_ca_pem },
    var.etcd_client_cert_pem == null ? {} : {
      "client.pem"     = var.etcd_client_cert_pem
      "client-key.pem" = var.etcd_client_key_pem
    },
  )

  etcd_secret = var.etcd_ca_pem != null || var.etcd_client_cert_pem != null

  args = concat(
    [
      "controlplane",
      "--data-dir=${local.data_dir}",
      "--pki-dir=${local.pki_dir}",
      "--listen=0.0.0.0:${var.grpc_port}",
      "--http-listen=0.0.0.0:${var.http_port}",
      "--trust-domain=${var.trust_domain}",
      "--etcd-endpoints=${join(",", var.etcd_endpoints)}",
      "--replica-name=$(POD_NAME)",
      "--write-user-config=false",
      "--log-format=json",
      "--log-level=${var.log_level}",
    ],
    var.etcd_ca_pem == null ? [] : ["--etcd-ca=${local.etcd_dir}/ca.pem"],
    var.etcd_client_cert_pem == null ? [] : ["--etcd-cert=${local.etcd_dir}/client.pem", "--etcd-key=${local.etcd_dir}/client-key.pem"],
    var.extra_args,
  )
}

resource "kubernetes_namespace_v1" "this" {
  count = var.create_namespace ? 1 : 0

  metadata {
    name = var.namespace
    labels = merge(local.labels, {
      "pod-security.kubernetes.io/enforce" = "restricted"
    })
  }
}

resource "kubernetes_secret_v1" "pki" {
  metadata {
    name      = "${var.name}-pki"
    namespace = local.namespace
    labels    = local.labels
  }
  data = local.pki_files

  lifecycle {
    precondition {
      condition     = (var.admin_cert_pem == null) == (var.admin_key_pem == null)
      error_message = "admin_cert_pem and admin_key_pem must be given together (admin_cert_pem is ${var.admin_cert_pem == null ? "null" : "set"}); with neither, each replica issues its own admin certificate from the CA."
    }
  }
}

resource "kubernetes_secret_v1" "etcd" {
  count = local.etcd_secret ? 1 : 0

  metadata {
    name      = "${var.name}-etcd"
    namespace = local.namespace
    labels    = local.labels
  }
  data = local.etcd_files

  lifecycle {
    precondition {
      condition     = (var.etcd_client_cert_pem == null) == (var.etcd_client_key_pem == null)
      error_message = "etcd_client_cert_pem and etcd_client_key_pem must be given together (etcd_client_cert_pem is ${var.etcd_client_cert_pem == null ? "null" : "set"})."
    }
  }
}

resource "kubernetes_service_account_v1" "this" {
  metadata {
    name      = var.name
    namespace = local.namespace
    labels    = local.labels
  }
  # The control plane does not talk to the Kubernetes API.
  automount_service_account_token = false
}

resource "kubernetes_deployment_v1" "this" {
  metadata {
    name      = var.name
    namespace = local.namespace
    labels    = local.labels
  }

  spec {
    replicas = var.replicas

    selector {
      match_labels = local.selector
    }

    strategy {
      type = "RollingUpdate"
      rolling_update {
        max_surge       = "1"
        max_unavailable = "0"
      }
    }

    template {
      metadata {
        labels = local.labels
        annotations = {
          # Files mounted one by one are not refreshed in running pods:
          # roll them when the PKI or the etcd credentials change.
          # (The checksums are of sensitive values, so plans hide them.)
          "meshfed.io/pki-checksum"  = sha256(jsonencode(local.pki_files))
          "meshfed.io/etcd-checksum" = sha256(jsonencode(local.etcd_files))
        }
      }

      spec {
        service_account_name             = kubernetes_service_account_v1.this.metadata[0].name
        automount_service_account_token  = false
        termination_grace_period_seconds = 30
        node_selector                    = var.node_selector

        security_context {
          run_as_non_root = true
          run_as_user     = 65532
          run_as_group    = 65532
          fs_group        = 65532
          seccomp_profile {
            type = "RuntimeDefault"
          }
        }

        # Spread replicas over zones, then nodes, when the cluster has them.
        topology_spread_constraint {
          max_skew           = 1
          topology_key       = "topology.kubernetes.io/zone"
          when_unsatisfiable = "ScheduleAnyway"
          label_selector {
            match_labels = local.selector
          }
        }
        topology_spread_constraint {
          max_skew           = 1
          topology_key       = "kubernetes.io/hostname"
          when_unsatisfiable = "ScheduleAnyway"
          label_selector {
            match_labels = local.selector
          }
        }

        container {
          name              = "controlplane"
          image             = var.image
          image_pull_policy = "IfNotPresent"
          command           = ["meshfed"]
          args              = local.args

          env {
            name = "POD_NAME"
            value_from {
              field_ref {
                field_path = "metadata.name"
              }
            }
          }

          port {
            name           = "grpc"
            container_port = var.grpc_port
            protocol       = "TCP"
          }
          port {
            name           = "http-metrics"
            container_port = var.http_port
            protocol       = "TCP"
          }

          readiness_probe {
            http_get {
              path = "/readyz"
              port = "http-metrics"
            }
            period_seconds    = 5
            timeout_seconds   = 2
            failure_threshold = 3
          }
          liveness_probe {
            http_get {
              path = "/healthz"
              port = "http-metrics"
            }
            period_seconds    = 10
            timeout_seconds   = 2
            failure_threshold = 3
          }

          resources {
            requests = var.resources.requests
            limits   = var.resources.limits
          }

          security_context {
            allow_privilege_escalation = false
            read_only_root_filesystem  = true
            run_as_non_root            = true
            capabilities {
              drop = ["ALL"]
            }
          }

          volume_mount {
            name       = "data"
            mount_path = local.data_dir
          }
          volume_mount {
            name       = "pki"
            mount_path = local.pki_dir
          }
          dynamic "volume_mount" {
            for_each = toset(local.pki_file_names)
            content {
              name       = "pki-files"
              mount_path = "${local.pki_dir}/${volume_mount.value}"
              sub_path   = volume_mount.value
              read_only  = true
            }
          }
          dynamic "volume_mount" {
            for_each = local.etcd_secret ? [1] : []
            content {
              name       = "etcd"
              mount_path = local.etcd_dir
              read_only  = true
            }
          }
        }

        volume {
          name = "data"
          empty_dir {}
        }
        volume {
          name = "pki"
          empty_dir {}
        }
        volume {
          name = "pki-files"
          secret {
            secret_name  = kubernetes_secret_v1.pki.metadata[0].name
            default_mode = "0440"
          }
        }
        dynamic "volume" {
          for_each = local.etcd_secret ? [1] : []
          content {
            name = "etcd"
            secret {
              secret_name  = kubernetes_secret_v1.etcd[0].metadata[0].name
              default_mode = "0440"
            }
          }
        }
      }
    }
  }

  wait_for_rollout = var.wait_for_rollout
}

resource "kubernetes_pod_disruption_budget_v1" "this" {
  count = var.replicas > 1 ? 1 : 0

  metadata {
    name      = var.name
    namespace = local.namespace
    labels    = local.labels
  }
  spec {
    max_unavailable = "1"
    selector {
      match_labels = local.selector
    }
  }
}

resource "kubernetes_service_v1" "this" {
  metadata {
    name        = var.name
    namespace   = local.namespace
    labels      = local.labels
    annotations = var.service_annotations
  }
  spec {
    type                        = var.service_type
    selector                    = local.selector
    load_balancer_source_ranges = var.service_type == "LoadBalancer" ? var.load_balancer_source_ranges : null

    port {
      name        = "grpc"
      port        = var.grpc_port
      target_port = "grpc"
      protocol    = "TCP"
    }
  }
  wait_for_load_balancer = var.service_type == "LoadBalancer"
}
