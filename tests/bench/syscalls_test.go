package bench

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
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
// known number of writes, where perf can count. The process writes when
// the command perf stat runs tells it to, through a FIFO, and perf starts
// that command only once its counters are on: the writes are counted
// however late perf attaches on a busy host (a process that began writing
// 0.3 s after its start could write them all before perf attached).
func TestCountSyscalls(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("perf stat -p needs root")
	}
	if _, err := exec.LookPath("perf"); err != nil {
		t.Skip("no perf")
	}
	dir := t.TempDir()
	start, done := filepath.Join(dir, "start"), filepath.Join(dir, "done")
	for _, p := range []string{start, done} {
		if err := syscall.Mkfifo(p, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	// Opening a FIFO waits for its other end: the process blocks until
	// perf's command opens start, and that command until the process has
	// written and opened done. The process then waits for its stdin to
	// close, so that perf counts a live process to the end.
	cmd := exec.Command("sh", "-c", `read x < "$1"; i=0; while [ $i -lt 200 ]; do echo x >&2; i=$((i+1)); done; echo > "$2"; read x`,
		"sh", start, done)
	var sink strings.Builder
	cmd.Stderr = &sink
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Wait()
	defer cmd.Process.Kill() // if perf failed, the process still waits on start
	counts, err := countSyscallsWhile(t.Context(), cmd.Process.Pid, "sh", "-c", `echo > "$1"; read x < "$2"`, "sh", start, done)
	if err != nil {
		t.Skipf("perf cannot count here: %v", err)
	}
	stdin.Close()
	if counts["write"] < 200 || counts["all"] < counts["write"] {
		t.Errorf("counted %v, want at least 200 writes", counts)
	}
}
