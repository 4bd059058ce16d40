package nstest

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"
)

// TestReadCut: a sender process appends line k to file A (its "send"),
// then hands k over a pipe to a receiver process, which appends it to
// file B (the "delivery"), as fast as they can. Every reading must be a
// cut: B holds no line A does not hold yet, and no file ends inside a
// line. Reading A and then B while they run finds B ahead of A: with
// cutPadding files between them (a check reads every trace of a run,
// killed incarnations' too), noting their sizes one after the other
// without stopping the writers gives no cut in most readings, so the
// test fails if ReadCut does not stop them.
func TestReadCut(t *testing.T) {
	dir := t.TempDir()
	a, b := filepath.Join(dir, "a"), filepath.Join(dir, "b")
	files := []string{a}
	for i := range cutPadding {
		pad := filepath.Join(dir, fmt.Sprintf("pad%d", i))
		if err := os.WriteFile(pad, []byte("0\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		files = append(files, pad)
	}
	files = append(files, b)
	send := exec.Command(os.Args[0], "-test.run=^TestCutWriterHelper$")
	send.Env = append(os.Environ(), "NSTEST_CUT_WRITER=send", "NSTEST_CUT_FILE="+a)
	recv := exec.Command(os.Args[0], "-test.run=^TestCutWriterHelper$")
	recv.Env = append(os.Environ(), "NSTEST_CUT_WRITER=recv", "NSTEST_CUT_FILE="+b)
	pipe, err := send.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	recv.Stdin = pipe
	for _, c := range []*exec.Cmd{send, recv} {
		c.Stderr = os.Stderr
		if err := c.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Process.Kill(); c.Wait() })
	}
	last := 0
	for i := 0; i < 200 || last == 0; i++ {
		if i == 2000 {
			t.Fatal("the writers wrote nothing in 2000 readings")
		}
		got, err := ReadCut([]int{send.Process.Pid, recv.Process.Pid}, files)
		if err != nil {
			t.Fatal(err)
		}
		sent, delivered := lastLine(t, "a", got[0]), lastLine(t, "b", got[len(got)-1])
		if delivered > sent {
			t.Fatalf("reading %d is no cut: b holds line %d, a only up to %d", i, delivered, sent)
		}
		last = delivered
		time.Sleep(time.Millisecond)
	}
	t.Logf("the last reading: up to line %d delivered", last)
}

// cutPadding is how many files TestReadCut puts between the sender's and
// the receiver's: noting their sizes takes long enough (tens of
// microseconds) for the receiver to write lines the sender's file, noted
// before, did not hold, unless both are stopped. More files make a
// failure surer and each reading slower (200: 16 s at load 20).
const cutPadding = 50

// lastLine returns the number on the last line of a file's contents, 0 if
// it has none, and fails the test if the contents end inside a line.
func lastLine(t *testing.T, name string, b []byte) int {
	t.Helper()
	if len(b) == 0 {
		return 0
	}
	if b[len(b)-1] != '\n' {
		t.Fatalf("%s was cut inside a line: %q", name, b[max(0, len(b)-20):])
	}
	b = b[:len(b)-1]
	n, err := strconv.Atoi(string(b[bytes.LastIndexByte(b, '\n')+1:]))
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return n
}

// TestCutWriterHelper is not a test: it is a writer of TestReadCut, the
// sender or the receiver (NSTEST_CUT_WRITER), appending to
// NSTEST_CUT_FILE until it is killed.
func TestCutWriterHelper(t *testing.T) {
	role := os.Getenv("NSTEST_CUT_WRITER")
	if role == "" {
		t.Skip("only run by TestReadCut")
	}
	f, err := os.OpenFile(os.Getenv("NSTEST_CUT_FILE"), os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	if role == "send" {
		for k := 1; ; k++ {
			line := fmt.Sprintf("%d\n", k)
			if _, err := f.WriteString(line); err != nil {
				t.Fatal(err)
			}
			if _, err := os.Stdout.WriteString(line); err != nil {
				return // the receiver is gone
			}
		}
	}
	in := bufio.NewScanner(os.Stdin)
	for in.Scan() {
		if _, err := f.WriteString(in.Text() + "\n"); err != nil {
			t.Fatal(err)
		}
	}
}
