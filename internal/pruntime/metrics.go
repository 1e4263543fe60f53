package pruntime

import (
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/phala-go/phala/protocol"
)

// metrics are pRuntime's Prometheus series; a nil *metrics records nothing.
type metrics struct {
	height   prometheus.Gauge
	blocks   prometheus.Counter
	messages prometheus.Counter
	errors   *prometheus.CounterVec
	egress   prometheus.Gauge
	results  *prometheus.CounterVec
	queries  *prometheus.CounterVec
	latency  prometheus.Histogram
}

func newMetrics(reg prometheus.Registerer) *metrics {
	if reg == nil {
		return nil
	}
	m := &metrics{
		height: prometheus.NewGauge(prometheus.GaugeOpts{Namespace: "pruntime", Name: "synced_height",
			Help: "Height of the last verified header; blocks below it are applied."}),
		blocks: prometheus.NewCounter(prometheus.CounterOpts{Namespace: "pruntime", Name: "blocks_applied_total",
			Help: "Blocks verified and applied."}),
		messages: prometheus.NewCounter(prometheus.CounterOpts{Namespace: "pruntime", Name: "messages_applied_total",
			Help: "Chain messages verified and dispatched."}),
		errors: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: "pruntime", Name: "sync_errors_total",
			Help: "Refused sync input, by error (space/code)."}, []string{"error"}),
		egress: prometheus.NewGauge(prometheus.GaugeOpts{Namespace: "pruntime", Name: "egress_pending",
			Help: "Signed outbound messages not yet seen on chain."}),
		results: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: "pruntime", Name: "contract_results_total",
			Help: "Contract inits and commands executed, by outcome."}, []string{"outcome"}),
		queries: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: "pruntime", Name: "queries_total",
			Help: "Contract queries answered (by outcome) or refused (by error space/code)."}, []string{"result"}),
		latency: prometheus.NewHistogram(prometheus.HistogramOpts{Namespace: "pruntime", Name: "query_seconds",
			Help: "Time to answer a contract query.", Buckets: prometheus.ExponentialBuckets(0.0001, 2, 16)}),
	}
	reg.MustRegister(m.height, m.blocks, m.messages, m.errors, m.egress, m.results, m.queries, m.latency)
	return m
}

// contractResult counts an executed init or command (also for blocks later
// rolled back, which a metric tolerates).
func (m *metrics) contractResult(outcome string) {
	if m != nil {
		m.results.WithLabelValues(outcome).Inc()
	}
}

// query records a query's result and latency.
func (m *metrics) query(outcome string, err error, took time.Duration) {
	if m == nil {
		return
	}
	label := outcome
	if err != nil {
		label = "refused:other"
		if e, ok := protocol.CodeOf(err); ok {
			label = "refused:" + e.Space + "/" + strconv.FormatUint(uint64(e.Code), 10)
		}
	}
	m.queries.WithLabelValues(label).Inc()
	m.latency.Observe(took.Seconds())
}

func (m *metrics) setHeight(h int64) {
	if m != nil {
		m.height.Set(float64(h))
	}
}

func (m *metrics) applied(msgs int) {
	if m != nil {
		m.blocks.Inc()
		m.messages.Add(float64(msgs))
	}
}

func (m *metrics) syncError(err error) {
	if m == nil {
		return
	}
	label := "other"
	if e, ok := protocol.CodeOf(err); ok {
		label = e.Space + "/" + strconv.FormatUint(uint64(e.Code), 10)
	}
	m.errors.WithLabelValues(label).Inc()
}

func (m *metrics) egressPending(n int) {
	if m != nil {
		m.egress.Set(float64(n))
	}
}
