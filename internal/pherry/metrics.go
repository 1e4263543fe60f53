package pherry

import "github.com/prometheus/client_golang/prometheus"

// metrics are pherry's Prometheus series. They always exist; registering
// them is optional.
type metrics struct {
	synced         prometheus.Gauge
	chain          prometheus.Gauge
	lag            prometheus.Gauge
	rate           prometheus.Gauge
	blocks         prometheus.Counter
	submitted      prometheus.Counter
	duplicates     prometheus.Counter
	egressPending  prometheus.Gauge
	registrations  prometheus.Counter
	stateTransfers prometheus.Counter
	errors         *prometheus.CounterVec
}

func newMetrics(reg prometheus.Registerer) *metrics {
	g := func(name, help string) prometheus.Gauge {
		return prometheus.NewGauge(prometheus.GaugeOpts{Namespace: "pherry", Name: name, Help: help})
	}
	c := func(name, help string) prometheus.Counter {
		return prometheus.NewCounter(prometheus.CounterOpts{Namespace: "pherry", Name: name, Help: help})
	}
	m := &metrics{
		synced:         g("synced_height", "pRuntime's synced height (last verified header)."),
		chain:          g("chain_height", "The node's latest block height."),
		lag:            g("lag_blocks", "Blocks pRuntime is behind the node."),
		rate:           g("blocks_per_second", "Recent sync rate."),
		blocks:         c("blocks_synced_total", "Blocks fed to pRuntime and applied."),
		submitted:      c("egress_submitted_total", "Signed pRuntime messages submitted to the chain."),
		duplicates:     c("egress_duplicates_skipped_total", "Egress messages skipped because the chain already had them or another copy won."),
		egressPending:  g("egress_pending", "Messages pending in pRuntime's egress queue."),
		registrations:  c("registrations_total", "Worker registrations landed."),
		stateTransfers: c("state_transfers_total", "State transfers from another cluster member installed in pRuntime."),
		errors: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: "pherry", Name: "errors_total",
			Help: "Failures by kind: node_unreachable, node_malformed, pruntime_unreachable, refused, submit_refused, register_failed, announce_failed, state_transfer_refused."}, []string{"kind"}),
	}
	if reg != nil {
		reg.MustRegister(m.synced, m.chain, m.lag, m.rate, m.blocks, m.submitted, m.duplicates, m.egressPending, m.registrations, m.stateTransfers, m.errors)
	}
	return m
}
