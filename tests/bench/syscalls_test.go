package bench

import (
	"os"
	"os/exec"
	"strings"
	"testing"
)

func TestParsePerfStat(t *testing.T) {
	out := `8611;;raw_syscalls:sys_enter;357515929;100.00;;
59;;syscalls:sys_enter_write;357515929;100.00;;
<not counted>;;syscalls:sys_enter_sendmmsg;0;100.00;;
1200;;syscalls:sys_enter_read;357505119;100.00;;
`
	got, err := parsePerfStat(out)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]uint64{"all": 8611, "write": 59, "read": 1200}
	if len(got) != len(want) {
		t.Fatalf("got %v, want %v", got, want)
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s: got %d, want %d", k, got[k], v)
		}
	}
	if _, err := parsePerfStat("Error: no permission\n"); err == nil {
		t.Error("output without a count parsed")
	}
}

func TestSyscallsPerMsg(t *testing.T) {
	sc := []SyscallCount{
		{Proc: "n1 agent", Seconds: 2, Counts: map[string]uint64{"all": 40000, "read": 10000, "write": 20000, "futex": 100}},
		{Proc: "n2 client", Seconds: 2, Counts: map[string]uint64{"all": 8000, "read": 8000}},
	}
	got := syscallsPerMsg(sc, []float64{10000, 20000})
	want := " n1 agent 2.00 (write 1.00 read 0.50); n2 client 0.20 (read 0.20)"
	if got != want {
		t.Errorf("got %q, want %q", got, want)
	}
}

// TestCountSyscalls counts the system calls of a process that makes a
// known number of writes, where perf can count.
func TestCountSyscalls(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("perf stat -p needs root")
	}
	if _, err := exec.LookPath("perf"); err != nil {
		t.Skip("no perf")
	}
	cmd := exec.Command("sh", "-c", "sleep 0.3; i=0; while [ $i -lt 200 ]; do echo x >&2; i=$((i+1)); done; sleep 1")
	var sink strings.Builder
	cmd.Stderr = &sink
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Wait()
	counts, err := countSyscalls(t.Context(), cmd.Process.Pid, 1200e6)
	if err != nil {
		t.Skipf("perf cannot count here: %v", err)
	}
	if counts["write"] < 200 || counts["all"] < counts["write"] {
		t.Errorf("counted %v, want at least 200 writes", counts)
	}
}
