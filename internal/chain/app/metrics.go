package app

import (
	"github.com/prometheus/client_golang/prometheus"
)

// metrics are the application's Prometheus series. A nil *metrics records
// nothing, so tests and tools need no registry.
type metrics struct {
	height   prometheus.Gauge
	txs      *prometheus.CounterVec
	messages prometheus.Counter
}

func newMetrics(reg prometheus.Registerer) *metrics {
	if reg == nil {
		return nil
	}
	m := &metrics{
		height: prometheus.NewGauge(prometheus.GaugeOpts{
			Namespace: "phala", Subsystem: "app", Name: "height",
			Help: "Height of the last finalized block.",
		}),
		txs: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "phala", Subsystem: "app", Name: "txs_total",
			Help: "Transactions executed in FinalizeBlock, by result (ok or error space/code).",
		}, []string{"result"}),
		messages: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: "phala", Subsystem: "app", Name: "messages_total",
			Help: "Messages emitted into the chain's message queue.",
		}),
	}
	reg.MustRegister(m.height, m.txs, m.messages)
	return m
}

func (m *metrics) block(height int64, results []string, messages int) {
	if m == nil {
		return
	}
	m.height.Set(float64(height))
	for _, r := range results {
		m.txs.WithLabelValues(r).Inc()
	}
	m.messages.Add(float64(messages))
}
