package controlplane

import (
	"context"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"google.golang.org/grpc"
	"google.golang.org/grpc/status"

	meshfedv1 "github.com/meshfed/meshfed/proto/meshfed/v1"
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
	// refreshErrors counts failed bundle endpoint fetches by trust domain.
	refreshErrors *prometheus.CounterVec
}

// bundleCollector reports the sequence and age of every stored bundle at
// scrape time, from the view (so deleted bundles disappear).
type bundleCollector struct {
	bundles  func() []*meshfedv1.Bundle
	now      func() time.Time
	sequence *prometheus.Desc
	age      *prometheus.Desc
}

func newBundleCollector(bundles func() []*meshfedv1.Bundle) *bundleCollector {
	return &bundleCollector{
		bundles: bundles,
		now:     time.Now,
		sequence: prometheus.NewDesc("meshfed_bundle_sequence",
			"spiffe_sequence of the stored trust bundle.", []string{"trust_domain"}, nil),
		age: prometheus.NewDesc("meshfed_bundle_age_seconds",
			"Time since the stored trust bundle was last written.", []string{"trust_domain"}, nil),
	}
}

func (c *bundleCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.sequence
	ch <- c.age
}

func (c *bundleCollector) Collect(ch chan<- prometheus.Metric) {
	now := c.now()
	for _, b := range c.bundles() {
		td := b.GetTrustDomain()
		ch <- prometheus.MustNewConstMetric(c.sequence, prometheus.GaugeValue, float64(b.GetSequence()), td)
		if b.GetUpdatedAt() != nil {
			ch <- prometheus.MustNewConstMetric(c.age, prometheus.GaugeValue, now.Sub(b.GetUpdatedAt().AsTime()).Seconds(), td)
		}
	}
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
		refreshErrors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "meshfed_bundle_refresh_errors_total", Help: "Failed fetches of a trust domain's bundle from its bundle endpoint.",
		}, []string{"trust_domain"}),
	}
	m.registry.MustRegister(m.requests, m.latency, m.watches, m.version, m.etcdLatency, m.leader, m.refreshErrors,
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
