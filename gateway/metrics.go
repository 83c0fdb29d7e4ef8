package gateway

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	dto "github.com/prometheus/client_model/go"
)

// Label names shared by the traffic metrics. direction is "outbound"
// (local client -> this gateway -> peer) or "inbound" (peer -> this
// gateway -> local endpoint).
var trafficLabels = []string{"direction", "source_cluster", "destination_cluster", "service", "protocol"}

type metrics struct {
	reg *prometheus.Registry

	requests          *prometheus.CounterVec
	latency           *prometheus.HistogramVec
	bytes             *prometheus.CounterVec
	active            *prometheus.GaugeVec
	handshakeFailures *prometheus.CounterVec
	authzDenials      *prometheus.CounterVec
	rejected          *prometheus.CounterVec
	retries           *prometheus.CounterVec
	snapshotVersion   prometheus.Gauge
	controlPlaneUp    prometheus.Gauge
}

func newMetrics() *metrics {
	m := &metrics{reg: prometheus.NewRegistry()}
	m.requests = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "meshfed_gateway_requests_total",
		Help: "HTTP requests and TCP connections through the gateway, by result (HTTP status class such as 2xx, or ok, no_route, unavailable, connect_error, denied).",
	}, append(append([]string{}, trafficLabels...), "result"))
	m.latency = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name: "meshfed_gateway_request_duration_seconds",
		Help: "Time from accepting an HTTP request to its response headers, or a TCP connection's lifetime.",
		// 100 µs to ~100 s.
		Buckets: prometheus.ExponentialBuckets(0.0001, 2.5, 16),
	}, append(append([]string{}, trafficLabels...), "result"))
	m.bytes = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "meshfed_gateway_bytes_total",
		Help: "Payload bytes relayed; way is sent (towards the destination) or received (back to the source).",
	}, append(append([]string{}, trafficLabels...), "way"))
	m.active = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "meshfed_gateway_active_connections",
		Help: "Open tunnelled connections and in-flight HTTP requests.",
	}, trafficLabels)
	m.handshakeFailures = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "meshfed_gateway_handshake_failures_total",
		Help: "Failed mTLS handshakes by direction and reason (untrusted, expired, unknown_trust_domain, unknown_cluster, not_gateway, wrong_cluster, no_certificate, timeout, bad_certificate, protocol).",
	}, []string{"direction", "reason"})
	m.authzDenials = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "meshfed_gateway_authz_denials_total",
		Help: "Inbound connections refused by a service's authorization policy.",
	}, []string{"source_cluster", "service"})
	m.rejected = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "meshfed_gateway_rejected_connections_total",
		Help: "Connections closed at accept because a limit was reached.",
	}, []string{"listener", "limit"})
	m.retries = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "meshfed_gateway_retries_total",
		Help: "Proxied HTTP requests retried on another cluster, by the cluster retried on.",
	}, []string{"source_cluster", "destination_cluster", "service"})
	m.snapshotVersion = prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "meshfed_gateway_snapshot_version",
		Help: "Control-plane state version the gateway routes with.",
	})
	m.controlPlaneUp = prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "meshfed_gateway_controlplane_connected",
		Help: "1 while the gateway's watch stream to the control plane is receiving.",
	})
	m.reg.MustRegister(m.requests, m.latency, m.bytes, m.active, m.handshakeFailures, m.authzDenials, m.rejected, m.retries,
		m.snapshotVersion, m.controlPlaneUp,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

func readGauge(g prometheus.Gauge) float64 {
	var m dto.Metric
	if err := g.Write(&m); err != nil {
		return 0
	}
	return m.GetGauge().GetValue()
}
