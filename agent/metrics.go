package agent

import (
	"net/http"
	"strconv"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/atoll-gcs/atoll/gateway"
	"github.com/atoll-gcs/atoll/localring"
)

// The agent's metrics are served by the admin API at /metrics from a
// registry of its own (never the global one, so that several agents in
// one process, and the programs that embed one, keep theirs apart): the
// Go runtime's and the process's collectors, and the agent's collector,
// which reads Status at every scrape, so that metrics, `atoll status` and
// the admin API never disagree. Names follow Prometheus conventions: an
// atoll_ prefix, base units (seconds, bytes), _total for counters.

// newRegistry returns the agent's metrics registry.
func newRegistry(a *Agent) *prometheus.Registry {
	reg := prometheus.NewRegistry()
	reg.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		newStatusCollector(a),
	)
	reg.MustRegister(a.lat.collectors()...)
	return reg
}

// metricsHandler serves reg in the exposition format the scraper asks for.
func metricsHandler(a *Agent, reg *prometheus.Registry) http.Handler {
	return promhttp.HandlerFor(reg, promhttp.HandlerOpts{ErrorLog: slogPrinter{a}, ErrorHandling: promhttp.ContinueOnError})
}

// slogPrinter hands promhttp's errors to the agent's log.
type slogPrinter struct{ a *Agent }

func (p slogPrinter) Println(v ...any) {
	p.a.log.Warn("metrics: cannot serve a scrape", "err", v)
}

// statusMetric is one metric taken from Status.
type statusMetric struct {
	desc  *prometheus.Desc
	kind  prometheus.ValueType
	value func(*Status) float64
}

// statusCollector collects the agent's metrics from one Status per scrape.
type statusCollector struct {
	a        *Agent
	info     *prometheus.Desc
	rejected *prometheus.Desc
	since    *prometheus.Desc
	rotation *prometheus.Desc
	metrics  []statusMetric

	// The federation ring members this node runs, one series per domain.
	fedRotation *prometheus.Desc
	fedRefused  *prometheus.Desc
	fedSealed   *prometheus.Desc
	fedMetrics  []fedMetric

	// The federation domains of the node's site, one series per domain.
	domBacklog, domBound, domTooLarge *prometheus.Desc
}

// fedMetric is one metric of a federation ring member, labelled with its
// domain.
type fedMetric struct {
	desc  *prometheus.Desc
	kind  prometheus.ValueType
	value func(*gateway.Stats) float64
}

func newStatusCollector(a *Agent) *statusCollector {
	c := &statusCollector{
		a: a,
		info: prometheus.NewDesc("atoll_info", "The agent's identity and version; always 1.",
			[]string{"node", "site", "cluster", "incarnation", "version", "ring_preset"}, nil),
		rejected: prometheus.NewDesc("atoll_packets_rejected_total", "Packets dropped before the ring saw them, by reason.", []string{"reason"}, nil),
		since:    prometheus.NewDesc("atoll_ring_installed_timestamp_seconds", "When the installed ring formed (Unix time).", nil, nil),
		rotation: prometheus.NewDesc("atoll_token_rotation_seconds", "Time between two tokens this node accepted in the operational ring: the token's rotation, holds included.", nil, nil),
	}
	c.fedRotation = prometheus.NewDesc("atoll_federation_token_rotation_seconds", "Time between two tokens this gateway accepted in the domain's operational federation ring.", []string{"domain"}, nil)
	c.fedRefused = prometheus.NewDesc("atoll_federation_connections_refused_total", "Gateway connections this gateway refused, by cause (unknown CA, expired certificate, wrong identity, ALPN mismatch ...).", []string{"domain", "cause"}, nil)
	c.fedSealed = prometheus.NewDesc("atoll_federation_ring_datagrams_refused_total", "Ring packets arriving outside QUIC (transport mode udp) that this gateway dropped, by reason: malformed, unknown-key (no live connection's key), forged (failed authentication), replay (a counter seen before, or a duplicate from the network).", []string{"domain", "reason"}, nil)
	c.domBacklog = prometheus.NewDesc("atoll_domain_backlog_bytes", "Bytes of the site's messages to the federation domain's groups waiting to be ordered by its federation ring, as this node counts them (the site's messages sent up and not yet come down, and this node's accepted ones not yet sent up).", []string{"domain"}, nil)
	c.domTooLarge = prometheus.NewDesc("atoll_domain_downs_too_large_total", "Messages of the domain's other sites larger than this site's local ring carries, brought down by this node as the site's active gateway without their data (a stub at their place, so that the site's stream goes on): the site's members of their groups lost them (see the agent's error log; every site of a domain must run its ring at the same limit).", []string{"domain"}, nil)
	c.domBound = prometheus.NewDesc("atoll_domain_backlog_bound_bytes", "The domain backlog at which this node accepts no client message for the domain's groups (0: no bound but the send queue's): --domain-backlog at the domain's slowest declared link bandwidth.", []string{"domain"}, nil)
	fed := func(name, help string, kind prometheus.ValueType, f func(*gateway.Stats) float64) {
		c.fedMetrics = append(c.fedMetrics, fedMetric{prometheus.NewDesc(name, help, []string{"domain"}, nil), kind, f})
	}
	fedCounter := func(name, help string, f func(*gateway.Stats) uint64) {
		fed(name, help, prometheus.CounterValue, func(st *gateway.Stats) float64 { return float64(f(st)) })
	}
	fed("atoll_federation_operational", "1 when this gateway's federation ring member is operational in a configuration of the domain.", prometheus.GaugeValue,
		func(st *gateway.Stats) float64 {
			if st.State == "operational" {
				return 1
			}
			return 0
		})
	fed("atoll_federation_members", "Sites in the domain's federation configuration installed last.", prometheus.GaugeValue,
		func(st *gateway.Stats) float64 { return float64(len(st.Members)) })
	fed("atoll_federation_missing_sites", "Sites of the domain not in the federation configuration installed last.", prometheus.GaugeValue,
		func(st *gateway.Stats) float64 { return float64(len(st.Missing)) })
	fed("atoll_federation_backlog_bytes", "Message bytes waiting in this gateway's transport queue toward its slowest peer; the ring node sends no new packets while it is at atoll_federation_backlog_bound_bytes.", prometheus.GaugeValue,
		func(st *gateway.Stats) float64 { return float64(st.Backlog) })
	fed("atoll_federation_backlog_bound_bytes", "The transport backlog beyond which the ring node sends no new packets: two rotations of the domain's slowest declared link bandwidth (at least 64 KiB), or the transport's own bound.", prometheus.GaugeValue,
		func(st *gateway.Stats) float64 { return float64(st.BacklogBound) })
	fedCounter("atoll_federation_installs_total", "Federation configurations installed.", func(st *gateway.Stats) uint64 { return st.Installs })
	fedCounter("atoll_federation_sites_lost_total", "Sites that left the federation configuration across installs.", func(st *gateway.Stats) uint64 { return st.SitesLost })
	fedCounter("atoll_federation_messages_submitted_total", "Messages the federation ring took from this gateway.", func(st *gateway.Stats) uint64 { return st.Submitted })
	fedCounter("atoll_federation_messages_delivered_total", "Messages the federation ring delivered at this gateway.", func(st *gateway.Stats) uint64 { return st.Delivered })
	fedCounter("atoll_federation_submit_backpressure_total", "Submissions to the federation ring refused because its queue was full.", func(st *gateway.Stats) uint64 { return st.Backpressure })
	fedCounter("atoll_federation_token_losses_total", "Times the federation token did not come back in time.", func(st *gateway.Stats) uint64 { return st.Counters.TokenLosses })
	fedCounter("atoll_federation_token_retransmits_total", "Federation tokens this gateway sent again.", func(st *gateway.Stats) uint64 { return st.Counters.TokenRetransmits })
	fedCounter("atoll_federation_retransmits_total", "Federation ring packets this gateway retransmitted on request.", func(st *gateway.Stats) uint64 { return st.Counters.Retransmits })
	fedCounter("atoll_federation_retransmits_not_queued_total", "Federation ring packets retransmitted on request that this gateway's transport did not queue for a peer because the original was still in that peer's send queue: a steady rise says a WAN path carries less than the ring sends (its queue, up to MaxBacklogBytes, delays the packets past a token rotation).", func(st *gateway.Stats) uint64 { return st.Transport.SendDuplicates })
	fedCounter("atoll_federation_retransmit_requests_total", "Federation ring sequence numbers this gateway asked to be retransmitted.", func(st *gateway.Stats) uint64 { return st.Counters.RetransmitRequests })
	fedCounter("atoll_federation_membership_changes_total", "Times the federation ring's membership protocol started.", func(st *gateway.Stats) uint64 { return st.Counters.Gathers })
	fedCounter("atoll_federation_evictions_total", "Sites taken out of the federation ring for failing to receive or to be received.", func(st *gateway.Stats) uint64 { return st.Counters.Evictions })
	fedCounter("atoll_federation_nacks_total", "Federation ring sequence numbers this gateway asked their senders for directly (nacks), instead of waiting for the token.", func(st *gateway.Stats) uint64 { return st.Counters.Nacks })
	fedCounter("atoll_federation_token_nacks_total", "Times this gateway told its predecessor on the federation ring that the token did not come.", func(st *gateway.Stats) uint64 { return st.Counters.TokenNacks })
	fedCounter("atoll_federation_early_token_retransmits_total", "Federation tokens this gateway sent again because a pass took longer than its passes' timing says, before the retransmit interval (also in atoll_federation_token_retransmits_total).", func(st *gateway.Stats) uint64 { return st.Counters.EarlyTokenRetransmits })
	fedCounter("atoll_federation_window_cuts_total", "Times this gateway halved its federation flow-control window because rotations slowed.", func(st *gateway.Stats) uint64 { return st.Counters.WindowCuts })
	gauge := func(name, help string, f func(*Status) float64) {
		c.metrics = append(c.metrics, statusMetric{prometheus.NewDesc(name, help, nil, nil), prometheus.GaugeValue, f})
	}
	counter := func(name, help string, f func(*Counters) uint64) {
		c.metrics = append(c.metrics, statusMetric{prometheus.NewDesc(name, help, nil, nil), prometheus.CounterValue,
			func(st *Status) float64 { return float64(f(&st.Counters)) }})
	}
	gauge("atoll_health", "0 healthy (in a ring with every configured node), 1 degraded (in a ring lacking some), 2 not in a ring.",
		func(st *Status) float64 { return float64(st.Health) })
	gauge("atoll_ring_operational", "1 when the node is operational in a ring.", func(st *Status) float64 {
		if st.State == "operational" {
			return 1
		}
		return 0
	})
	gauge("atoll_ring_members", "Members of the installed ring.",
		func(st *Status) float64 { return countMembers(st, func(m *MemberStatus) bool { return m.InRing }) })
	gauge("atoll_ring_configured_nodes", "Nodes the topology file puts in this site.",
		func(st *Status) float64 { return countMembers(st, func(m *MemberStatus) bool { return m.Configured }) })
	gauge("atoll_ring_token_timeout_seconds", "The ring's token timeout: how long a lost token takes to notice.",
		func(st *Status) float64 { return float64(st.Config.RingSettings.TokenTimeout) / 1e9 })
	gauge("atoll_send_pending_messages", "Messages accepted and not yet sent on the ring.",
		func(st *Status) float64 { return float64(st.Counters.Pending + st.Counters.Queued) })
	counter("atoll_packets_received_total", "Ring packets received and authenticated.", func(c *Counters) uint64 { return c.PacketsIn })
	counter("atoll_packets_sent_total", "Ring packets sent (before sealing).", func(c *Counters) uint64 { return c.PacketsOut })
	counter("atoll_packets_malformed_total", "Authenticated packets the ring could not decode.", func(c *Counters) uint64 { return c.Malformed })
	counter("atoll_retransmits_total", "Packets this node retransmitted on request.", func(c *Counters) uint64 { return c.Retransmits })
	counter("atoll_retransmit_requests_total", "Sequence numbers this node asked to be retransmitted.", func(c *Counters) uint64 { return c.RetransmitRequests })
	counter("atoll_token_retransmits_total", "Tokens this node sent again.", func(c *Counters) uint64 { return c.TokenRetransmits })
	counter("atoll_duplicate_tokens_total", "Tokens this node dropped as copies of one it had: beside a predecessor's token retransmissions, the first copy was late, not lost.", func(c *Counters) uint64 { return c.DuplicateTokens })
	counter("atoll_token_losses_total", "Times the token did not come back in time.", func(c *Counters) uint64 { return c.TokenLosses })
	counter("atoll_membership_changes_total", "Times the membership protocol started.", func(c *Counters) uint64 { return c.Gathers })
	counter("atoll_rings_installed_total", "Rings this node installed.", func(c *Counters) uint64 { return c.RingsInstalled })
	counter("atoll_ring_evictions_total", "Members taken out of the ring for failing to receive multicasts or to be received.", func(c *Counters) uint64 { return c.RingEvictions })
	counter("atoll_ring_readmissions_total", "Members taken out as one end of a cut link and let back in early, as the link healed.", func(c *Counters) uint64 { return c.RingReadmissions })
	counter("atoll_ring_stall_holds_total", "Token rotations slowed down while a packet stayed missing.", func(c *Counters) uint64 { return c.StallHolds })
	counter("atoll_ring_busy_holds_total", "Tokens the representative of a lightly loaded ring kept for a fuller rotation.", func(c *Counters) uint64 { return c.BusyHolds })
	counter("atoll_trace_holds_total", "Times this node held its new ring messages back until the trace had the lines of the events before them (--trace only).", func(c *Counters) uint64 { return c.TraceHolds })
	c.metrics = append(c.metrics, statusMetric{prometheus.NewDesc("atoll_trace_hold_seconds_total", "Time this node held its new ring messages back for the trace (--trace only).", nil, nil), prometheus.CounterValue,
		func(st *Status) float64 { return st.Counters.TraceHeld.Seconds() }})
	counter("atoll_messages_sent_total", "Messages this node sent on the ring.", func(c *Counters) uint64 { return c.MessagesSent })
	counter("atoll_messages_delivered_total", "Messages delivered to this node's applications.", func(c *Counters) uint64 { return c.MessagesDelivered })
	counter("atoll_submit_backpressure_total", "Submits refused because the queue was full.", func(c *Counters) uint64 { return c.Backpressure })
	counter("atoll_ring_refused_total", "Messages of the agent's own layers the local ring refused for good and that were dropped (a bug: see the agent's error log).", func(c *Counters) uint64 { return c.RingRefused })
	counter("atoll_subscribers_evicted_total", "Subscribers dropped because they did not keep up.", func(c *Counters) uint64 { return c.Evicted })
	counter("atoll_send_errors_total", "Packets the kernel refused to send.", func(c *Counters) uint64 { return c.SendErrors })
	counter("atoll_receive_errors_total", "Failed receive calls and truncated datagrams.", func(c *Counters) uint64 { return c.RecvErrors + c.RecvTruncated })
	gauge("atoll_clients", "Client sessions open.", func(st *Status) float64 { return float64(st.Counters.Clients) })
	counter("atoll_clients_accepted_total", "Client connections accepted.", func(c *Counters) uint64 { return c.ClientsAccepted })
	counter("atoll_clients_evicted_total", "Client sessions ended because the client did not read its events.", func(c *Counters) uint64 { return c.ClientsEvicted })
	counter("atoll_client_warnings_total", "Warnings sent to clients whose queue passed half its bound.", func(c *Counters) uint64 { return c.ClientWarnings })
	counter("atoll_client_protocol_errors_total", "Client sessions ended for a malformed or unexpected frame.", func(c *Counters) uint64 { return c.ClientProtocolErrors })
	counter("atoll_group_messages_delivered_total", "Group messages delivered (multicast and point-to-point).", func(c *Counters) uint64 { return c.GroupDelivered })
	counter("atoll_group_messages_denied_total", "Group messages a group's ACL denied.", func(c *Counters) uint64 { return c.GroupDenied })
	counter("atoll_group_views_total", "Group views computed.", func(c *Counters) uint64 { return c.GroupViews })
	gauge("atoll_group_pending_messages", "Group requests and messages accepted from clients and not yet sent.",
		func(st *Status) float64 { return float64(st.Counters.GroupPending) })
	return c
}

// countMembers counts the members of st for which f holds.
func countMembers(st *Status, f func(*MemberStatus) bool) float64 {
	n := 0
	for i := range st.Members {
		if f(&st.Members[i]) {
			n++
		}
	}
	return float64(n)
}

// Describe sends every metric's description.
func (c *statusCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.info
	ch <- c.rejected
	ch <- c.since
	ch <- c.rotation
	for _, m := range c.metrics {
		ch <- m.desc
	}
	ch <- c.fedRotation
	ch <- c.fedRefused
	ch <- c.fedSealed
	for _, m := range c.fedMetrics {
		ch <- m.desc
	}
	ch <- c.domBacklog
	ch <- c.domBound
	ch <- c.domTooLarge
}

// Collect reads Status once and sends every metric.
func (c *statusCollector) Collect(ch chan<- prometheus.Metric) {
	st := c.a.Status()
	ch <- prometheus.MustNewConstMetric(c.info, prometheus.GaugeValue, 1,
		st.Node, st.Site, st.Cluster, strconv.FormatUint(st.Incarnation, 10), st.Config.Version, st.Config.RingSettings.Preset)
	if !st.RingSince.IsZero() {
		ch <- prometheus.MustNewConstMetric(c.since, prometheus.GaugeValue, float64(st.RingSince.UnixNano())/1e9)
	}
	for _, m := range c.metrics {
		ch <- prometheus.MustNewConstMetric(m.desc, m.kind, m.value(&st))
	}
	ch <- prometheus.MustNewConstHistogram(c.rotation, st.TokenRotation.Count, st.TokenRotation.Sum.Seconds(), rotationBuckets(&st.TokenRotation))
	k := &st.Counters
	for _, r := range []struct {
		reason string
		v      uint64
	}{{"wrong-key", k.RejectWrongKey}, {"mismatch", k.RejectMismatch}, {"auth", k.RejectAuth}, {"replay", k.RejectReplay}, {"other", k.RejectOther}, {"unknown-sender", k.UnknownSender}} {
		ch <- prometheus.MustNewConstMetric(c.rejected, prometheus.CounterValue, float64(r.v), r.reason)
	}
	for i := range st.Domains {
		d := &st.Domains[i]
		ch <- prometheus.MustNewConstMetric(c.domBacklog, prometheus.GaugeValue, float64(d.Backlog), d.Domain)
		ch <- prometheus.MustNewConstMetric(c.domBound, prometheus.GaugeValue, float64(d.BacklogBound), d.Domain)
		ch <- prometheus.MustNewConstMetric(c.domTooLarge, prometheus.CounterValue, float64(d.Bridge.DownsTooLarge), d.Domain)
	}
	for i := range st.Federation {
		f := &st.Federation[i]
		for _, m := range c.fedMetrics {
			ch <- prometheus.MustNewConstMetric(m.desc, m.kind, m.value(f), f.Domain)
		}
		ch <- prometheus.MustNewConstHistogram(c.fedRotation, f.Counters.Rotation.Count, f.Counters.Rotation.Sum.Seconds(), rotationBuckets(&f.Counters.Rotation), f.Domain)
		for cause, n := range f.Refused {
			ch <- prometheus.MustNewConstMetric(c.fedRefused, prometheus.CounterValue, float64(n), f.Domain, cause)
		}
		ts := &f.Transport
		for _, r := range []struct {
			reason string
			v      uint64
		}{{"malformed", ts.RingMalformed}, {"unknown-key", ts.RingUnknownKey}, {"forged", ts.RingForged}, {"replay", ts.RingReplayed}} {
			ch <- prometheus.MustNewConstMetric(c.fedSealed, prometheus.CounterValue, float64(r.v), f.Domain, r.reason)
		}
	}
}

// rotationBuckets returns h's buckets as Prometheus counts them:
// cumulative, by upper bound in seconds.
func rotationBuckets(h *localring.Histogram) map[float64]uint64 {
	m := make(map[float64]uint64, len(h.Buckets))
	var sum uint64
	for i, b := range localring.RotationBounds {
		sum += h.Buckets[i]
		m[b.Seconds()] = sum
	}
	return m
}
