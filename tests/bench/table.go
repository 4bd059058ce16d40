package bench

import (
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	atollbench "github.com/atoll-gcs/atoll/bench"
)

// WriteMarkdown prints the report as the tables of docs/BENCHMARKS.md.
func (r *Report) WriteMarkdown(w io.Writer, command string) {
	o, h := r.Options, r.Host
	fmt.Fprintf(w, "Run of %s, %v, `%s`.\n\n", r.Started.UTC().Format("2006-01-02 15:04 MST"), r.Elapsed.Round(time.Second), command)
	fmt.Fprintf(w, "Host: %s, %d cores, Linux %s, %s, %s. Load average at start %s, at end %s (other work on the machine makes the numbers noisy).\n",
		h.CPU, h.Cores, h.Kernel, h.Go, h.Corosync, h.LoadStart, r.LoadEnd)
	fmt.Fprintf(w, "Atoll through the client API (the benchmark of record): one `atoll agent` process and one tests/bench/clientload process per namespace, the client on the agent's Unix socket with the `client` package, sending with `MulticastWait`. Atoll in process: one `atoll bench node` (an agent, package agent, and its load generator in one process) per namespace. Both with the %s transport, LAN preset (token 200ms). Corosync: one daemon (knet, which sends UDP unicast to each node; %s) and one cpgload client per namespace.\n",
		r.atollTransport(), strings.TrimPrefix(CorosyncOptions{}.String(), "knet, crypto none, "))
	fmt.Fprintf(w, "Scheduling: %s.\n", r.schedString())
	fmt.Fprintf(w, "Every load phase: Agreed messages, %v warm-up, %v measured; full-load phases run %d times each (median, range in brackets). Latency: from just before the send call (`MulticastWait`, `cpg_mcast_joined`, the agent's `Submit`) to delivery to the application, over every delivery at every node. \"all\": every node sends; \"one\": only node 1 sends, every node receives.\n\n",
		o.Warmup, o.Duration, o.Repeat)

	fmt.Fprintf(w, "### Throughput: the senders send as fast as flow control allows\n\n")
	fmt.Fprintln(w, "| nodes | size | senders | security | Atoll API msgs/s | Corosync msgs/s | API / Corosync | Atoll in-process msgs/s | API MB/s | Corosync MB/s | API p50 / p99 / p99.9 at full load | Corosync p50 / p99 at full load | kernel UDP drops, API / in-process / Corosync |")
	fmt.Fprintln(w, "| ---: | ---: | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
	for _, row := range r.Rows {
		api, c := median(row.APIMax), median(row.CorosyncMax)
		fmt.Fprintf(w, "| %d | %d B | %s | %s | %s | %s | **%s×** | %s | %.1f | %.1f | %s / %s / %s | %s / %s | %d / %d / %d |\n", row.Nodes, row.Size, senders(row.OneSender), security(row.Crypto),
			rateRange(row.APIMax)+mark(row.APIMax...), rateRange(row.CorosyncMax)+mark(row.CorosyncMax...), ratio(api.MsgsPerSec, c.MsgsPerSec),
			rateRange(row.AtollMax)+mark(row.AtollMax...), api.MBPerSec, c.MBPerSec,
			lat(api.P50), lat(api.P99), lat(api.P999), lat(c.P50), lat(c.P99), row.APIKernelDrops, row.AtollKernelDrops, row.CorosyncKernelDrops)
	}
	fmt.Fprintf(w, "\n### Latency from send to delivery at 1,000 msgs/s in total and at half of the maximum\n\n")
	fmt.Fprintln(w, "| nodes | size | senders | security | Atoll API p50 / p99 / p99.9 at 1,000 msgs/s | Corosync p50 / p99 / p99.9 at 1,000 msgs/s | Atoll API at 50% of its maximum | Atoll in-process at 1,000 msgs/s | Atoll in-process at 50% of its maximum |")
	fmt.Fprintln(w, "| ---: | ---: | --- | --- | ---: | ---: | ---: | ---: | ---: |")
	for _, row := range r.Rows {
		api, c, ah, a, h := row.API1k, row.Corosync1k, row.APIHalf, row.Atoll1k, row.AtollHalf
		fmt.Fprintf(w, "| %d | %d B | %s | %s | %s%s | %s%s | %s (%s msgs/s)%s | %s%s | %s (%s msgs/s)%s |\n", row.Nodes, row.Size, senders(row.OneSender), security(row.Crypto),
			lat3(api), mark(api), lat3(c), mark(c), lat3(ah), thousands(ah.MsgsPerSec), mark(ah), lat3(a), mark(a), lat3(h), thousands(h.MsgsPerSec), mark(h))
	}
	fmt.Fprintf(w, "\n### The ring during the API's phases (every agent, over the measured window: token retransmissions / tokens lost / rings installed at node 1; token rotation p50 / p99 / longest, as the bounds of their buckets, and the rotations over %v)\n\n", SlowRotation)
	fmt.Fprintln(w, "| nodes | size | senders | security | full load | at 1,000 msgs/s | at 50% of its maximum |")
	fmt.Fprintln(w, "| ---: | ---: | --- | --- | --- | --- | --- |")
	for _, row := range r.Rows {
		var full RingWindow
		if i := medianIndex(row.APIMax); i < len(row.APIMaxRing) {
			full = row.APIMaxRing[i]
		}
		fmt.Fprintf(w, "| %d | %d B | %s | %s | %s | %s | %s |\n", row.Nodes, row.Size, senders(row.OneSender), security(row.Crypto),
			full.cell(), row.API1kRing.cell(), row.APIHalfRing.cell())
	}
	fmt.Fprintf(w, "\n### Cost per node (CPU in %% of one core over the measured window; API: agent + clientload; Corosync: daemon + cpgload; per 1,000 msgs/s: at full load, summed over the nodes)\n\n")
	fmt.Fprintln(w, "| nodes | size | senders | security | API CPU full load | in-process CPU full load | Corosync CPU full load | API / in-process / Corosync per 1,000 msgs/s | API CPU at 1,000 msgs/s | Corosync CPU at 1,000 msgs/s | idle: agent / in-process / Corosync daemon | peak RSS: agent / in-process / Corosync daemon |")
	fmt.Fprintln(w, "| ---: | ---: | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
	for _, row := range r.Rows {
		api, a, c := median(row.APIMax), median(row.AtollMax), median(row.CorosyncMax)
		rss := max(a.MaxRSSKiB, row.Atoll1k.MaxRSSKiB, row.AtollHalf.MaxRSSKiB)
		var crss, arss int64
		for _, s := range append(slices.Clone(row.CorosyncMax), row.Corosync1k) {
			for _, n := range s.PerNode {
				crss = max(crss, n.DaemonMaxRSSKiB)
			}
		}
		for _, s := range append(slices.Clone(row.APIMax), row.API1k, row.APIHalf) {
			for _, n := range s.PerNode {
				arss = max(arss, n.DaemonMaxRSSKiB)
			}
		}
		fmt.Fprintf(w, "| %d | %d B | %s | %s | %.0f%% | %.0f%% | %.0f%% | %s / %s / %s | %.1f%% | %.1f%% | %.2f%%%s / %.2f%%%s / %.2f%% | %.1f / %.1f / %.1f MiB |\n", row.Nodes, row.Size, senders(row.OneSender), security(row.Crypto),
			api.CPUPercent, a.CPUPercent, c.CPUPercent, perK(api), perK(a), perK(c), row.API1k.CPUPercent, row.Corosync1k.CPUPercent,
			row.APIIdleCPU, row.APIIdleRing.mark(), row.AtollIdle.CPUPercent, mark(row.AtollIdle), row.CorosyncIdleCPU, float64(arss)/1024, float64(rss)/1024, float64(crss)/1024)
	}
	if r.disturbed() {
		fmt.Fprintf(w, "\n† the membership changed during a measured window (a token was lost, typically because the busy machine did not run a node in time): that run is disturbed.\n")
	}
	if len(r.UDP) > 0 {
		fmt.Fprintf(w, "\n### Raw UDP multicast between the same namespaces (node 1 sends, the others receive; MTU 1500, so 8 KiB datagrams are IP-fragmented): one datagram per send (sendmmsg, recvmmsg), and as the ring sends, through its transport (UDP GSO sends and GRO receives where the kernel allows; the column says what it used)\n\n")
		fmt.Fprintln(w, "| nodes | datagram | one per send: sent/s | received/s (slowest receiver) | MB/s received | as the ring sends: sent with / received with | sent/s | received/s (slowest receiver) | MB/s received |")
		fmt.Fprintln(w, "| ---: | ---: | ---: | ---: | ---: | --- | ---: | ---: | ---: |")
		for _, u := range r.UDP {
			gso := fmt.Sprintf("%s / %s | %s | %s | %.0f", u.GSO.SendMode, u.GSO.RecvMode, thousands(u.GSO.SentPerSec), thousands(u.GSO.RecvPerSec), u.GSO.RecvPerSec*float64(u.Size)/1e6)
			if u.NoGSO != "" {
				gso = "none: " + u.NoGSO + " | – | – | –"
			}
			fmt.Fprintf(w, "| %d | %d B | %s | %s | %.0f | %s |\n", u.Nodes, u.Size, thousands(u.SentPerSec), thousands(u.RecvPerSec), u.RecvPerSec*float64(u.Size)/1e6, gso)
		}
	}
	if len(r.Failover) > 0 {
		fmt.Fprintf(w, "\n### Failover: kill -9 of one node under light load (%d msgs/s per node); time until each survivor installed the configuration without it\n\n", failoverLoad)
		fmt.Fprintln(w, "| system | nodes | settings | slowest survivor | every survivor |")
		fmt.Fprintln(w, "| --- | ---: | --- | ---: | --- |")
		for _, f := range r.Failover {
			var each []string
			for _, d := range f.PerNode {
				each = append(each, d.Round(time.Millisecond).String())
			}
			fmt.Fprintf(w, "| %s | %d | %s | %v | %s |\n", f.System, f.Nodes, f.Settings, f.Max().Round(time.Millisecond), strings.Join(each, ", "))
		}
	}
}

// mark returns "†" when a run's membership changed during its window.
func mark(ss ...atollbench.Summary) string {
	for _, s := range ss {
		if s.ConfChanges > 0 {
			return " †"
		}
	}
	return ""
}

// mark returns "†" when the ring re-formed during an idle window.
func (w IdleRing) mark() string {
	if w.Rings > 0 {
		return " †"
	}
	return ""
}

func (r *Report) disturbed() bool {
	for _, row := range r.Rows {
		all := append(slices.Concat(row.AtollMax, row.CorosyncMax, row.APIMax), row.Atoll1k, row.Corosync1k, row.AtollHalf, row.API1k, row.APIHalf, row.AtollIdle)
		if mark(all...) != "" || row.APIIdleRing.mark() != "" {
			return true
		}
	}
	return false
}

func security(crypto bool) string {
	if crypto {
		return "encrypted"
	}
	return "plain"
}

// median returns the run with the median throughput (the lower middle for
// an even count).
func median(ss []atollbench.Summary) atollbench.Summary {
	if len(ss) == 0 {
		return atollbench.Summary{}
	}
	return ss[medianIndex(ss)]
}

// medianIndex is the index of median(ss) in ss.
func medianIndex(ss []atollbench.Summary) int {
	idx := make([]int, len(ss))
	for i := range idx {
		idx[i] = i
	}
	slices.SortStableFunc(idx, func(a, b int) int {
		switch {
		case ss[a].MsgsPerSec < ss[b].MsgsPerSec:
			return -1
		case ss[a].MsgsPerSec > ss[b].MsgsPerSec:
			return 1
		}
		return 0
	})
	if len(idx) == 0 {
		return 0
	}
	return idx[(len(idx)-1)/2]
}

// cell is a RingWindow in the table of the ring during the API's phases:
// "0 / 0 / 0; ≤250µs / ≤2.5ms / ≤10ms, 2 > 5ms", "–" when not measured.
func (w RingWindow) cell() string {
	if w.Seconds <= 0 {
		return "–"
	}
	return fmt.Sprintf("%d / %d / %d; %s", w.TokenRetransmits, w.TokenLosses, w.Rings, w.rotations())
}

func rateRange(ss []atollbench.Summary) string {
	m := median(ss)
	if len(ss) < 2 {
		return thousands(m.MsgsPerSec)
	}
	lo, hi := ss[0].MsgsPerSec, ss[0].MsgsPerSec
	for _, s := range ss {
		lo, hi = min(lo, s.MsgsPerSec), max(hi, s.MsgsPerSec)
	}
	return fmt.Sprintf("%s (%s–%s)", thousands(m.MsgsPerSec), thousands(lo), thousands(hi))
}

func lat(d time.Duration) string { return atollbench.FormatLatency(d) }

// lat3 is p50 / p99 / p99.9 of a run.
func lat3(s atollbench.Summary) string {
	return lat(s.P50) + " / " + lat(s.P99) + " / " + lat(s.P999)
}

// perK is the CPU of the whole ring, in % of a core, per 1,000 msgs/s
// delivered.
func perK(s atollbench.Summary) string {
	if s.MsgsPerSec <= 0 {
		return "–"
	}
	return fmt.Sprintf("%.1f%%", s.CPUPercent*float64(s.Nodes)/(s.MsgsPerSec/1000))
}

// ratio is a / b, or "–" without b.
func ratio(a, b float64) string {
	if b <= 0 {
		return "–"
	}
	return fmt.Sprintf("%.2f", a/b)
}

func thousands(v float64) string {
	n := int64(v + 0.5)
	s := fmt.Sprint(n)
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
}
