package sync

import "github.com/prometheus/client_golang/prometheus"

// Metrics are the daemon's Prometheus collectors. They live in the registry
// the caller passes (no global registration), so tests and several daemons
// in one process never collide.
type Metrics struct {
	Events        *prometheus.CounterVec
	Syncs         *prometheus.CounterVec
	Steps         *prometheus.CounterVec
	Reloads       *prometheus.CounterVec
	Errors        *prometheus.CounterVec
	EventToApply  prometheus.Histogram
	Apps          prometheus.Gauge
	Backends      prometheus.Gauge
	Servers       prometheus.Gauge
	RejectedApps  prometheus.Gauge
	StreamConnect *prometheus.CounterVec
	Repairs       *prometheus.CounterVec
	Applies       *prometheus.CounterVec
}

// NewMetrics creates the collectors and registers them with reg.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		Events: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "marathon_dataplane_events_total",
			Help: "Marathon events received, by event type."}, []string{"type"}),
		Syncs: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "marathon_dataplane_syncs_total",
			Help: "Sync passes, by result (noop, applied, partial, failed)."}, []string{"result"}),
		Steps: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "marathon_dataplane_apply_steps_total",
			Help: "Applied plan steps, by kind (runtime, transaction, full)."}, []string{"kind"}),
		Applies: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "marathon_dataplane_applies_total",
			Help: "Applied plans, by strategy (runtime: no reload; transaction; full: frontends or binds changed)."}, []string{"kind"}),
		Reloads: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "marathon_dataplane_reloads_total",
			Help: "HAProxy reloads caused by this process, by cause."}, []string{"cause"}),
		Errors: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "marathon_dataplane_errors_total",
			Help: "Errors, by class (marathon, dataplane, conflict, reload, stream, verify)."}, []string{"class"}),
		EventToApply: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "marathon_dataplane_event_to_applied_seconds",
			Help:    "Time from the first event of a coalesced burst to the end of its apply.",
			Buckets: []float64{.005, .01, .02, .05, .1, .2, .5, 1, 2, 5, 10, 30}}),
		Apps:         prometheus.NewGauge(prometheus.GaugeOpts{Name: "marathon_dataplane_apps", Help: "Marathon apps seen in the last sync."}),
		Backends:     prometheus.NewGauge(prometheus.GaugeOpts{Name: "marathon_dataplane_backends", Help: "Backends owned after the last sync."}),
		Servers:      prometheus.NewGauge(prometheus.GaugeOpts{Name: "marathon_dataplane_servers", Help: "Servers in owned backends after the last sync."}),
		RejectedApps: prometheus.NewGauge(prometheus.GaugeOpts{Name: "marathon_dataplane_rejected_apps", Help: "Apps rejected in the last sync."}),
		StreamConnect: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "marathon_dataplane_event_stream_connects_total",
			Help: "Event stream connection attempts, by result."}, []string{"result"}),
		Repairs: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "marathon_dataplane_live_repairs_total",
			Help: "Out-of-band changes to HAProxy's live servers repaired by reconcile, by kind."}, []string{"kind"}),
	}
	reg.MustRegister(m.Events, m.Syncs, m.Steps, m.Reloads, m.Errors, m.EventToApply, m.Apps, m.Backends, m.Servers, m.RejectedApps, m.StreamConnect, m.Repairs, m.Applies)
	return m
}
