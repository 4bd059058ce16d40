package bench

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	atollbench "github.com/atoll-gcs/atoll/bench"
	"github.com/atoll-gcs/atoll/localring"
)

// TestCompareSmoke runs the whole comparison once, shortly, on 3 nodes.
// It needs root, corosync and libcpg-dev, so it runs only when asked:
//
//	sudo ATOLL_BENCH=1 go test ./tests/bench/ -run Smoke -v
func TestCompareSmoke(t *testing.T) {
	if os.Getenv("ATOLL_BENCH") != "1" {
		t.Skip("set ATOLL_BENCH=1 (as root, with corosync and libcpg-dev installed) to run the namespace benchmark smoke test")
	}
	if os.Geteuid() != 0 {
		t.Skip("the namespace testbed needs root")
	}
	for _, tool := range []string{"corosync", "gcc", "ip"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("%s is missing: apt-get install corosync libcpg-dev gcc iproute2 (tests/bench/compare.sh does it)", tool)
		}
	}
	work := t.TempDir()
	var log bytes.Buffer
	o := Options{
		Nodes: []int{3}, Duration: time.Second, Warmup: 300 * time.Millisecond, Idle: 500 * time.Millisecond,
		Repeat: 1, Raw: true, Work: work, Log: &log, Sizes: []int{1024}, Senders: []bool{false}, Security: []bool{false},
	}
	o.Self = []string{testBinary(t)}
	if err := build(context.Background(), &o); err != nil {
		t.Fatal(err)
	}
	rep, err := Run(context.Background(), o)
	if err != nil {
		t.Fatalf("%v\nprogress:\n%s", err, log.String())
	}
	var md bytes.Buffer
	rep.WriteMarkdown(&md, "go test")
	t.Log("\n" + md.String())
	for _, row := range rep.Rows {
		if median(row.AtollMax).MsgsPerSec <= 0 || median(row.CorosyncMax).MsgsPerSec <= 0 || row.Atoll1k.P50 <= 0 || row.Corosync1k.P50 <= 0 ||
			median(row.APIMax).MsgsPerSec <= 0 || row.API1k.P50 <= 0 || row.APIHalf.P50 <= 0 || median(row.APIMax).CPUPercent <= 0 {
			t.Errorf("%d nodes, crypto %v: a phase measured nothing: %+v", row.Nodes, row.Crypto, row)
		}
		if len(row.APIMaxRing) != 1 || row.APIMaxRing[0].Rot.Count == 0 || row.API1kRing.Rot.Count == 0 || row.APIHalfRing.Rot.Count == 0 {
			t.Errorf("%d nodes, crypto %v: no token rotation seen in an API phase's window: %+v %+v %+v", row.Nodes, row.Crypto, row.APIMaxRing, row.API1kRing, row.APIHalfRing)
		}
	}
	for _, u := range rep.UDP {
		if u.RecvPerSec <= 0 {
			t.Errorf("raw UDP %d bytes: nothing received", u.Size)
		}
		if u.NoGSO == "" && (u.GSO.RecvPerSec <= 0 || u.GSO.SendMode == "" || u.GSO.RecvMode == "") {
			t.Errorf("raw UDP %d bytes as the ring sends: nothing received, or the mode not reported: %+v", u.Size, u)
		}
	}
}

// testBinary returns this test binary, which plays the udp-send and
// udp-recv roles (see TestMain).
func testBinary(t *testing.T) string {
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	return exe
}

func TestMain(m *testing.M) {
	if len(os.Args) == 2 && (os.Args[1] == "udp-send" || os.Args[1] == "udp-recv") {
		if _, err := Main(os.Args[1:], os.Stdin, os.Stdout); err != nil {
			os.Stderr.WriteString(err.Error() + "\n")
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// TestWriteMarkdown checks the report's tables on made-up numbers, so that
// the printing code runs in every `go test`.
func TestWriteMarkdown(t *testing.T) {
	dir := t.TempDir()
	lat := filepath.Join(dir, "x.lat")
	if err := atollbench.WriteSamples(lat, []int64{400e3, 500e3, 3e6}); err != nil {
		t.Fatal(err)
	}
	sum := func(rate float64) atollbench.Summary {
		s, err := atollbench.Summarize([]atollbench.NodeResult{{Node: "n1", Delivered: uint64(rate * 2), Bytes: uint64(rate * 2048), WindowS: 2, CPUS: 1, CPUWindowS: 2, Samples: lat}})
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	var rot localring.Histogram // 99 rotations of at most 1 ms, one of at most 50 ms
	rot.Count, rot.Buckets[3], rot.Buckets[8] = 100, 99, 1
	r := &Report{
		Options: Options{Sizes: []int{1024}, Warmup: time.Second, Duration: 10 * time.Second, Repeat: 2},
		Rows: []Row{{Nodes: 3, Size: 1024, APIMax: []atollbench.Summary{sum(42000), sum(46000)}, API1k: sum(1000), APIHalf: sum(23000), AtollMax: []atollbench.Summary{sum(40000), sum(44000)}, CorosyncMax: []atollbench.Summary{sum(20000), sum(21000)},
			Atoll1k: sum(1000), Corosync1k: sum(1000), AtollHalf: sum(20000), AtollIdle: sum(0),
			// The ring re-formed during the API's idle window: its figure is marked.
			APIIdleCPU: 0.4, APIIdleRing: IdleRing{RotPerSec: 14, Rings: 1},
			// The ring of the median full-load run (the lower middle, 42,000)
			// retransmitted tokens; the table shows its window.
			APIMaxRing: []RingWindow{{Seconds: 9, TokenRetransmits: 3, Rot: rot}, {Seconds: 9}}, APIHalfRing: RingWindow{Seconds: 9, Rot: rot}}},
		UDP: []UDPRow{{Nodes: 3, Size: 1024, SentPerSec: 80000, RecvPerSec: 70000, GSO: UDPWay{SendMode: "GSO", RecvMode: "GRO", SentPerSec: 900000, RecvPerSec: 800000}},
			{Nodes: 3, Size: 8192, SentPerSec: 20000, RecvPerSec: 19000, NoGSO: "too large"}},
		Failover: []FailoverRow{{System: "Atoll", Nodes: 3, PerNode: []time.Duration{440 * time.Millisecond, 450 * time.Millisecond}}},
	}
	var b bytes.Buffer
	r.WriteMarkdown(&b, "cmd")
	out := b.String()
	for _, want := range []string{"| 3 | 1024 B | all | plain | 42,000 (42,000–46,000) | 20,000 (20,000–21,000) | **2.10×** | 40,000 (40,000–44,000) |", "500µs", "| 3 | 1024 B | 80,000 | 70,000 | 72 | GSO / GRO | 900,000 | 800,000 | 819 |", "| 3 | 8192 B | 20,000 | 19,000 | 156 | none: too large | – | – | – |", "| Atoll | 3 |", "450ms", "| 0.40% † / ", "† the membership changed",
		"| 3 | 1024 B | all | plain | 3 / 0 / 0; ≤1ms / ≤1ms / ≤50ms, 1 > 5ms | – | 0 / 0 / 0; ≤1ms / ≤1ms / ≤50ms, 1 > 5ms |"} {
		if !strings.Contains(out, want) {
			t.Errorf("report lacks %q:\n%s", want, out)
		}
	}
}

func TestQuietDropsOnlyTheModeNoneWarning(t *testing.T) {
	var b bytes.Buffer
	q := quiet{&b}
	q.Write([]byte("[n1] level=WARN msg=\"seal: PACKET SECURITY IS OFF (mode none)\"\n[n1] level=WARN msg=\"transport: the kernel capped SO_RCVBUF\"\n"))
	if got := b.String(); got != "[n1] level=WARN msg=\"transport: the kernel capped SO_RCVBUF\"\n" {
		t.Errorf("quiet wrote %q", got)
	}
}

// TestRawUDP runs the raw multicast rows on 3 namespaces for a second
// each way: every receiver gets datagrams, and the row says how they
// were sent and received as the ring sends (GSO and GRO on a kernel that
// has them, Linux 5.0 or later); 8 KiB datagrams, larger than a packet,
// are sent one per send only. It needs root only, not corosync.
func TestRawUDP(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("the namespace testbed needs root")
	}
	if _, err := exec.LookPath("ip"); err != nil {
		t.Skip("ip (iproute2) is missing")
	}
	tb, err := NewTestbed(3, fmt.Sprintf("rt%04x", os.Getpid()&0xffff))
	if err != nil {
		t.Fatal(err)
	}
	defer tb.Close()
	var log bytes.Buffer
	r := &Report{Options: Options{Duration: time.Second, Normal: true, Log: &log, Self: []string{testBinary(t)}}}
	small, err := r.rawRow(context.Background(), tb, 1024)
	if err != nil {
		t.Fatalf("%v\n%s", err, log.String())
	}
	large, err := r.rawRow(context.Background(), tb, 8192)
	if err != nil {
		t.Fatalf("%v\n%s", err, log.String())
	}
	t.Logf("\n%s", log.String())
	if small.RecvPerSec <= 0 || small.GSO.RecvPerSec <= 0 || small.NoGSO != "" {
		t.Errorf("1 KiB datagrams: want them received both ways: %+v", small)
	}
	// A kernel without them falls back, and the row says so.
	if g := small.GSO; (g.SendMode != "GSO" && !strings.Contains(g.SendMode, "kernel cannot")) || (g.RecvMode != "GRO" && !strings.Contains(g.RecvMode, "kernel cannot")) {
		t.Errorf("1 KiB datagrams as the ring sends went as %q / %q, want GSO / GRO (Linux %s)", g.SendMode, g.RecvMode, kernelRelease())
	}
	if large.RecvPerSec <= 0 || large.NoGSO == "" || large.GSO != (UDPWay{}) {
		t.Errorf("8 KiB datagrams: want them received one per send, and no GSO figures: %+v", large)
	}
}

// kernelRelease is uname -r, for a failure's message.
func kernelRelease() string {
	b, _ := os.ReadFile("/proc/sys/kernel/osrelease")
	return strings.TrimSpace(string(b))
}
