package controlplane

import (
	"context"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"google.golang.org/grpc"
	"google.golang.org/grpc/status"
)

// metrics are the control plane's Prometheus metrics, on a registry of
// its own (no global state).
type metrics struct {
	registry    *prometheus.Registry
	requests    *prometheus.CounterVec
	latency     *prometheus.HistogramVec
	watches     prometheus.Gauge
	version     prometheus.Gauge
	etcdLatency *prometheus.HistogramVec
	leader      *prometheus.GaugeVec
}

func newMetrics() *metrics {
	m := &metrics{
		registry: prometheus.NewRegistry(),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "meshfed_api_requests_total", Help: "gRPC API requests by method and status code.",
		}, []string{"method", "code"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "meshfed_api_request_duration_seconds", Help: "gRPC API request latency (unary calls; streams until they end).",
			Buckets: prometheus.ExponentialBuckets(0.0005, 2, 16),
		}, []string{"method"}),
		watches: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "meshfed_watch_streams_open", Help: "Gateway watch streams currently open.",
		}),
		version: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "meshfed_snapshot_version", Help: "Version (etcd revision) of the state this replica serves.",
		}),
		etcdLatency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "meshfed_etcd_request_duration_seconds", Help: "Latency of etcd requests made by the store.",
			Buckets: prometheus.ExponentialBuckets(0.0002, 2, 16),
		}, []string{"op"}),
		leader: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "meshfed_leader", Help: "1 while this replica is the elected leader of a singleton job.",
		}, []string{"job"}),
	}
	m.registry.MustRegister(m.requests, m.latency, m.watches, m.version, m.etcdLatency, m.leader,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

func (m *metrics) unary(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
	start := time.Now()
	resp, err := handler(ctx, req)
	m.observe(info.FullMethod, err, start)
	return resp, err
}

func (m *metrics) stream(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
	start := time.Now()
	err := handler(srv, ss)
	m.observe(info.FullMethod, err, start)
	return err
}

func (m *metrics) observe(method string, err error, start time.Time) {
	m.requests.WithLabelValues(method, status.Code(err).String()).Inc()
	m.latency.WithLabelValues(method).Observe(time.Since(start).Seconds())
}
