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
	fmt.Fprintf(w, "Atoll: one `atoll bench node` (an agent, package agent) per namespace, %s transport, LAN preset (token 200ms). Corosync: one daemon (knet, which sends UDP unicast to each node; %s) and one cpgload client per namespace.\n",
		r.atollTransport(), strings.TrimPrefix(CorosyncOptions{}.String(), "knet, crypto none, "))
	fmt.Fprintf(w, "Scheduling: %s.\n", r.schedString())
	fmt.Fprintf(w, "Every load phase: %d-byte messages, %v warm-up, %v measured; full-load phases run %d times each (median, range in brackets).\n\n",
		o.Size, o.Warmup, o.Duration, o.Repeat)

	fmt.Fprintf(w, "### Throughput: every node sends as fast as flow control allows (Agreed)\n\n")
	fmt.Fprintln(w, "| nodes | security | Atoll msgs/s | Corosync msgs/s | Atoll / Corosync | Atoll MB/s | Corosync MB/s | Atoll p50 / p99 | Corosync p50 / p99 | Atoll retransmits (tokens) | kernel UDP drops, Atoll / Corosync |")
	fmt.Fprintln(w, "| ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
	for _, row := range r.Rows {
		a, c := median(row.AtollMax), median(row.CorosyncMax)
		fmt.Fprintf(w, "| %d | %s | %s | %s | **%.2f×** | %.1f | %.1f | %s / %s | %s / %s | %d (%d) | %d / %d |\n", row.Nodes, security(row.Crypto),
			rateRange(row.AtollMax)+mark(row.AtollMax...), rateRange(row.CorosyncMax)+mark(row.CorosyncMax...), a.MsgsPerSec/c.MsgsPerSec, a.MBPerSec, c.MBPerSec,
			lat(a.P50), lat(a.P99), lat(c.P50), lat(c.P99), a.Retransmits, a.TokenRetransmits, row.AtollKernelDrops, row.CorosyncKernelDrops)
	}
	fmt.Fprintf(w, "\n### Latency from send to delivery, over every delivery at every node\n\n")
	fmt.Fprintln(w, "| nodes | security | Atoll p50 / p99 / p99.9 at 1,000 msgs/s | Corosync p50 / p99 / p99.9 at 1,000 msgs/s | Atoll p50 / p99 / p99.9 at 50% of its maximum |")
	fmt.Fprintln(w, "| ---: | --- | ---: | ---: | ---: |")
	for _, row := range r.Rows {
		a, c, h := row.Atoll1k, row.Corosync1k, row.AtollHalf
		fmt.Fprintf(w, "| %d | %s | %s / %s / %s%s | %s / %s / %s%s | %s / %s / %s (%s msgs/s)%s |\n", row.Nodes, security(row.Crypto),
			lat(a.P50), lat(a.P99), lat(a.P999), mark(a), lat(c.P50), lat(c.P99), lat(c.P999), mark(c),
			lat(h.P50), lat(h.P99), lat(h.P999), thousands(h.MsgsPerSec), mark(h))
	}
	fmt.Fprintf(w, "\n### Cost per node (CPU in %% of one core, over the measured window; Corosync: daemon + load client)\n\n")
	fmt.Fprintln(w, "| nodes | security | Atoll CPU full load | Corosync CPU full load | Atoll CPU at 1,000 msgs/s | Corosync CPU at 1,000 msgs/s | Atoll idle | Corosync idle (daemon) | Atoll peak RSS | Corosync peak RSS (daemon) |")
	fmt.Fprintln(w, "| ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
	for _, row := range r.Rows {
		a, c := median(row.AtollMax), median(row.CorosyncMax)
		rss := max(a.MaxRSSKiB, row.Atoll1k.MaxRSSKiB, row.AtollHalf.MaxRSSKiB)
		var crss int64
		for _, s := range append(slices.Clone(row.CorosyncMax), row.Corosync1k) {
			for _, n := range s.PerNode {
				crss = max(crss, n.DaemonMaxRSSKiB)
			}
		}
		fmt.Fprintf(w, "| %d | %s | %.0f%% | %.0f%% | %.1f%% | %.1f%% | %.2f%% | %.2f%% | %.1f MiB | %.1f MiB |\n", row.Nodes, security(row.Crypto),
			a.CPUPercent, c.CPUPercent, row.Atoll1k.CPUPercent, row.Corosync1k.CPUPercent,
			row.AtollIdle.CPUPercent, row.CorosyncIdleCPU, float64(rss)/1024, float64(crss)/1024)
	}
	if r.disturbed() {
		fmt.Fprintf(w, "\n† the membership changed during a measured window (a token was lost, typically because the busy machine did not run a node in time): that run is disturbed.\n")
	}
	if len(r.UDP) > 0 {
		fmt.Fprintf(w, "\n### Raw UDP multicast between the same namespaces (node 1 sends with sendmmsg, the others receive; MTU 1500, so 8 KiB datagrams are IP-fragmented)\n\n")
		fmt.Fprintln(w, "| nodes | datagram | sent/s | received/s (slowest receiver) | MB/s received |")
		fmt.Fprintln(w, "| ---: | ---: | ---: | ---: | ---: |")
		for _, u := range r.UDP {
			fmt.Fprintf(w, "| %d | %d B | %s | %s | %.0f |\n", u.Nodes, u.Size, thousands(u.SentPerSec), thousands(u.RecvPerSec), u.RecvPerSec*float64(u.Size)/1e6)
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

func (r *Report) disturbed() bool {
	for _, row := range r.Rows {
		all := append(slices.Clone(row.AtollMax), row.CorosyncMax...)
		if mark(append(all, row.Atoll1k, row.Corosync1k, row.AtollHalf)...) != "" {
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
	s := slices.Clone(ss)
	slices.SortFunc(s, func(a, b atollbench.Summary) int {
		switch {
		case a.MsgsPerSec < b.MsgsPerSec:
			return -1
		case a.MsgsPerSec > b.MsgsPerSec:
			return 1
		}
		return 0
	})
	return s[(len(s)-1)/2]
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

func thousands(v float64) string {
	n := int64(v + 0.5)
	s := fmt.Sprint(n)
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
}
