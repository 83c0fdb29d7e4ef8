package agent

import "github.com/prometheus/client_golang/prometheus"

type metrics struct {
	reconciles *prometheus.CounterVec
	leader     prometheus.Gauge
	exports    prometheus.Gauge
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		reconciles: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "meshfed_agent_reconciles_total",
			Help: "Reconciles by controller (export, import) and result (ok, conflict, error).",
		}, []string{"controller", "result"}),
		leader: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "meshfed_agent_leader",
			Help: "1 while this replica holds the agent's Lease.",
		}),
		exports: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "meshfed_agent_published_exports",
			Help: "Exports this agent has published to the control plane.",
		}),
	}
	if reg != nil {
		reg.MustRegister(m.reconciles, m.leader, m.exports)
	}
	return m
}
