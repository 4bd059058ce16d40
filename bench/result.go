package bench

// NodeResult is what a benchmark node reports at the end, as one JSON line
// with "type":"result". The Corosync load client writes the same fields,
// so that one Summarize serves both systems.
type NodeResult struct {
	Type string `json:"type"`
	Node string `json:"node"`

	Sent          uint64  `json:"sent"`          // messages submitted
	Backpressured uint64  `json:"backpressured"` // offered messages refused by flow control
	Delivered     uint64  `json:"delivered"`     // benchmark messages delivered in the window
	Bytes         uint64  `json:"bytes"`         // their payload bytes
	WindowS       float64 `json:"window_s"`      // length of the window

	// Latency of the deliveries in the window at this node.
	P50Us  float64 `json:"p50_us"`
	P99Us  float64 `json:"p99_us"`
	P999Us float64 `json:"p999_us"`

	// CPU time used in CPUWindowS seconds (about the window), and the
	// process's peak RSS. Daemon* are Corosync's daemon, whose client is
	// a separate process; zero for Atoll, whose node is one process.
	CPUS            float64 `json:"cpu_s"`
	CPUWindowS      float64 `json:"cpu_window_s"`
	MaxRSSKiB       int64   `json:"max_rss_kib"`
	DaemonCPUS      float64 `json:"daemon_cpu_s,omitempty"`
	DaemonMaxRSSKiB int64   `json:"daemon_max_rss_kib,omitempty"`

	// Ring counters over the whole run (Atoll only).
	Retransmits        uint64 `json:"retransmits"`
	RetransmitRequests uint64 `json:"retransmit_requests"`
	TokenRetransmits   uint64 `json:"token_retransmits"`
	TokenLosses        uint64 `json:"token_losses"`
	SealRejected       uint64 `json:"seal_rejected"`

	// ConfChanges counts configurations installed after the ring first
	// held every node and before the window ended: nonzero means the run
	// was disturbed.
	ConfChanges int `json:"conf_changes"`

	Samples string `json:"samples,omitempty"` // the latency samples file
}

// NodeEvent is a progress line of a node, with "type" one of "ready" (the
// ring holds every node), "install" (a regular configuration was
// installed) or "token-lost".
type NodeEvent struct {
	Type    string `json:"type"`
	Node    string `json:"node"`
	MonoNs  int64  `json:"mono_ns"` // CLOCK_MONOTONIC
	Members int    `json:"members,omitempty"`
	Conf    string `json:"conf,omitempty"`
	Reason  string `json:"reason,omitempty"`
}
