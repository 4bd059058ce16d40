package bench

import (
	"fmt"
	"io"
	"text/tabwriter"
	"time"
)

// WriteReport prints a summary for a person: totals, latency, and one line
// per node.
func WriteReport(w io.Writer, s Summary) error {
	fmt.Fprintf(w, "throughput   %s msgs/s   %.1f MB/s\n", thousands(s.MsgsPerSec), s.MBPerSec)
	fmt.Fprintf(w, "latency      p50 %s   p99 %s   p99.9 %s   (%s deliveries at all nodes)\n",
		FormatLatency(s.P50), FormatLatency(s.P99), FormatLatency(s.P999), thousands(float64(s.Samples)))
	fmt.Fprintf(w, "retransmits  %d packets (%d requested), %d token retransmissions\n",
		s.Retransmits, s.RetransmitRequests, s.TokenRetransmits)
	if s.Backpressured > 0 {
		fmt.Fprintf(w, "refused      %d offered messages by flow control: the offered rate is above what the ring carries\n", s.Backpressured)
	}
	if s.ConfChanges > 0 {
		fmt.Fprintf(w, "WARNING      the membership changed %d times during the run: the numbers are not from a steady ring\n", s.ConfChanges)
	}
	fmt.Fprintf(w, "cpu          %.1f%% per node (mean), %.1f%% (busiest); peak RSS %.1f MiB\n\n", s.CPUPercent, s.CPUPercentMax, float64(s.MaxRSSKiB)/1024)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "node\tsent\tdelivered\tmsgs/s\tp50\tp99\tp99.9\tcpu %\tRSS MiB\tretransmits\t")
	for _, r := range s.PerNode {
		cpu := 0.0
		if r.CPUWindowS > 0 {
			cpu = (r.CPUS + r.DaemonCPUS) / r.CPUWindowS * 100
		}
		fmt.Fprintf(tw, "%s\t%d\t%d\t%s\t%s\t%s\t%s\t%.1f\t%.1f\t%d\t\n", r.Node, r.Sent, r.Delivered,
			thousands(float64(r.Delivered)/r.WindowS), usLatency(r.P50Us), usLatency(r.P99Us), usLatency(r.P999Us),
			cpu, float64(max(r.MaxRSSKiB, r.DaemonMaxRSSKiB))/1024, r.Retransmits)
	}
	return tw.Flush()
}

func usLatency(us float64) string { return FormatLatency(time.Duration(us * 1e3)) }

// FormatLatency prints a latency in µs below 10 ms and in ms above.
func FormatLatency(d time.Duration) string {
	if d < 10*time.Millisecond {
		return fmt.Sprintf("%dµs", d.Microseconds())
	}
	return fmt.Sprintf("%.1fms", float64(d)/1e6)
}

// thousands formats a non-negative number without decimals, with commas.
func thousands(v float64) string {
	n := int64(v + 0.5)
	s := fmt.Sprint(n)
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
}
