package bench

import (
	"fmt"
	"time"
)

// Summary aggregates the NodeResults of one run.
type Summary struct {
	Nodes int
	// MsgsPerSec is the rate of messages delivered in total order, the mean
	// over nodes of each node's deliveries in the window (every node
	// delivers every message).
	MsgsPerSec float64
	MBPerSec   float64 // MsgsPerSec × message size, in 10^6 bytes
	// Latency over every delivery in the window at every node.
	P50, P99, P999 time.Duration
	Samples        int
	// CPUPercent is the mean CPU use per node (daemon and client together
	// for Corosync) in percent of one core; CPUPercentMax the busiest node.
	CPUPercent, CPUPercentMax float64
	// MaxRSSKiB is the largest peak RSS of a node process (the daemon for
	// Corosync).
	MaxRSSKiB          int64
	Retransmits        uint64 // packets retransmitted, all nodes
	RetransmitRequests uint64
	TokenRetransmits   uint64
	Backpressured      uint64 // offered messages refused by flow control
	ConfChanges        int    // configuration changes during the run (should be 0)
	PerNode            []NodeResult
}

// Summarize aggregates the results of one run, reading their latency
// samples files.
func Summarize(rs []NodeResult) (Summary, error) {
	s := Summary{Nodes: len(rs), PerNode: rs}
	if len(rs) == 0 {
		return s, fmt.Errorf("bench: no node results")
	}
	var all []int64
	var bytes float64
	for _, r := range rs {
		if r.WindowS <= 0 {
			return s, fmt.Errorf("bench: node %s reports an empty window", r.Node)
		}
		s.MsgsPerSec += float64(r.Delivered) / r.WindowS / float64(len(rs))
		bytes += float64(r.Bytes) / r.WindowS / float64(len(rs))
		if r.CPUWindowS > 0 {
			cpu := (r.CPUS + r.DaemonCPUS) / r.CPUWindowS * 100
			s.CPUPercent += cpu / float64(len(rs))
			s.CPUPercentMax = max(s.CPUPercentMax, cpu)
		}
		s.MaxRSSKiB = max(s.MaxRSSKiB, r.MaxRSSKiB, r.DaemonMaxRSSKiB)
		s.Retransmits += r.Retransmits
		s.RetransmitRequests += r.RetransmitRequests
		s.TokenRetransmits += r.TokenRetransmits
		s.Backpressured += r.Backpressured
		s.ConfChanges = max(s.ConfChanges, r.ConfChanges)
		if r.Samples != "" {
			ns, err := ReadSamples(r.Samples)
			if err != nil {
				return s, err
			}
			all = append(all, ns...)
		}
	}
	s.MBPerSec = bytes / 1e6
	s.Samples = len(all)
	q := Quantiles(all, 0.5, 0.99, 0.999)
	s.P50, s.P99, s.P999 = time.Duration(q[0]), time.Duration(q[1]), time.Duration(q[2])
	return s, nil
}
