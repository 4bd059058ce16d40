package agent

import (
	"fmt"
	"io"
	"strconv"
)

// writeMetrics writes st in the Prometheus text exposition format
// (version 0.0.4). It is written by hand to keep the agent free of the
// Prometheus client library's dependencies; the format is stable and
// small.
func writeMetrics(w io.Writer, st *Status) {
	gauge := func(name, help string, v float64) {
		fmt.Fprintf(w, "# HELP %s %s\n# TYPE %s gauge\n%s %s\n", name, help, name, name, strconv.FormatFloat(v, 'g', -1, 64))
	}
	counter := func(name, help string, v uint64) {
		fmt.Fprintf(w, "# HELP %s %s\n# TYPE %s counter\n%s %d\n", name, help, name, name, v)
	}
	inRing := 0
	for _, m := range st.Members {
		if m.InRing {
			inRing++
		}
	}
	configured := len(st.Members)
	for _, m := range st.Members {
		if !m.Configured {
			configured--
		}
	}
	fmt.Fprintf(w, "# HELP atoll_info The agent's identity.\n# TYPE atoll_info gauge\natoll_info{node=%q,site=%q,cluster=%q,incarnation=\"%d\"} 1\n", st.Node, st.Site, st.Cluster, st.Incarnation)
	gauge("atoll_health", "0 healthy (in a ring with every configured node), 1 degraded (in a ring lacking some), 2 not in a ring.", float64(st.Health))
	operational := 0.0
	if st.State == "operational" {
		operational = 1
	}
	gauge("atoll_ring_operational", "1 when the node is operational in a ring.", operational)
	gauge("atoll_ring_members", "Members of the installed ring.", float64(inRing))
	gauge("atoll_ring_configured_nodes", "Nodes the topology file puts in this site.", float64(configured))
	if !st.RingSince.IsZero() {
		gauge("atoll_ring_installed_timestamp_seconds", "When the installed ring formed (Unix time).", float64(st.RingSince.UnixNano())/1e9)
	}
	c := &st.Counters
	gauge("atoll_send_pending_messages", "Messages accepted and not yet sent on the ring.", float64(c.Pending+c.Queued))
	counter("atoll_packets_received_total", "Ring packets received and authenticated.", c.PacketsIn)
	counter("atoll_packets_sent_total", "Ring packets sent (before sealing).", c.PacketsOut)
	counter("atoll_packets_malformed_total", "Authenticated packets the ring could not decode.", c.Malformed)
	counter("atoll_retransmits_total", "Packets this node retransmitted on request.", c.Retransmits)
	counter("atoll_retransmit_requests_total", "Sequence numbers this node asked to be retransmitted.", c.RetransmitRequests)
	counter("atoll_token_retransmits_total", "Tokens this node sent again.", c.TokenRetransmits)
	counter("atoll_token_losses_total", "Times the token did not come back in time.", c.TokenLosses)
	counter("atoll_membership_changes_total", "Times the membership protocol started.", c.Gathers)
	counter("atoll_rings_installed_total", "Rings this node installed.", c.RingsInstalled)
	counter("atoll_messages_sent_total", "Messages this node sent on the ring.", c.MessagesSent)
	counter("atoll_messages_delivered_total", "Messages delivered to this node's applications.", c.MessagesDelivered)
	counter("atoll_submit_backpressure_total", "Submits refused because the queue was full.", c.Backpressure)
	counter("atoll_subscribers_evicted_total", "Subscribers dropped because they did not keep up.", c.Evicted)
	fmt.Fprintf(w, "# HELP atoll_packets_rejected_total Packets dropped before the ring saw them, by reason.\n# TYPE atoll_packets_rejected_total counter\n")
	for _, r := range []struct {
		kind string
		v    uint64
	}{{"wrong-key", c.RejectWrongKey}, {"mismatch", c.RejectMismatch}, {"auth", c.RejectAuth}, {"replay", c.RejectReplay}, {"other", c.RejectOther}, {"unknown-sender", c.UnknownSender}} {
		fmt.Fprintf(w, "atoll_packets_rejected_total{reason=%q} %d\n", r.kind, r.v)
	}
	counter("atoll_send_errors_total", "Packets the kernel refused to send.", c.SendErrors)
	gauge("atoll_clients", "Client sessions open.", float64(c.Clients))
	counter("atoll_clients_accepted_total", "Client connections accepted.", c.ClientsAccepted)
	counter("atoll_clients_evicted_total", "Client sessions ended because the client did not read its events.", c.ClientsEvicted)
	counter("atoll_client_warnings_total", "Warnings sent to clients whose queue passed half its bound.", c.ClientWarnings)
	counter("atoll_client_protocol_errors_total", "Client sessions ended for a malformed or unexpected frame.", c.ClientProtocolErrors)
	counter("atoll_group_messages_delivered_total", "Group messages delivered (multicast and point-to-point).", c.GroupDelivered)
	counter("atoll_group_messages_denied_total", "Group messages a group's ACL denied.", c.GroupDenied)
	counter("atoll_group_views_total", "Group views computed.", c.GroupViews)
	gauge("atoll_group_pending_messages", "Group requests and messages accepted from clients and not yet sent.", float64(c.GroupPending))
	counter("atoll_receive_errors_total", "Failed receive calls and truncated datagrams.", c.RecvErrors+c.RecvTruncated)
}
