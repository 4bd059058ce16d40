package nstest

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
	"time"
)

// ReadCut returns the contents of files, which the running processes pids
// append to, as one consistent cut: it stops the processes (SIGSTOP, and
// waits until each of their threads is stopped), notes the files' sizes,
// lets the processes go on (SIGCONT) and reads each file up to its noted
// size. The processes are stopped for the few milliseconds this takes.
//
// A trace checker needs the cut. A process writes its trace line of an
// event before anything the event causes leaves it (a send line before
// the packet that carries the message), so whatever a delivery line in
// one file depends on is in the other files at any instant; but files
// read one after the other while the processes run are not an instant:
// a message sent after its sender's file was read and delivered before
// the receiver's file was read appears delivered and never sent. Once
// every writer is stopped, nothing more is appended, and the stopped
// state is a cut (nothing can depend on a line written later).
//
// A file that does not exist reads as nil. Processes that already ended
// are skipped; the caller must not have stopped any of pids itself (they
// run again afterwards).
func ReadCut(pids []int, files []string) ([][]byte, error) {
	sizes, err := stoppedSizes(pids, files)
	if err != nil {
		return nil, err
	}
	out := make([][]byte, len(files))
	for i, f := range files {
		if sizes[i] < 0 {
			continue
		}
		b, err := os.ReadFile(f)
		if err != nil {
			return nil, err
		}
		if int64(len(b)) < sizes[i] {
			return nil, fmt.Errorf("nstest: %s shrank from %d to %d bytes while it was read", f, sizes[i], len(b))
		}
		out[i] = b[:sizes[i]]
	}
	return out, nil
}

// stoppedSizes returns the sizes of files (-1 for a missing one) while
// every process of pids is stopped.
func stoppedSizes(pids []int, files []string) ([]int64, error) {
	var stopped []int
	defer func() {
		for _, pid := range stopped {
			syscall.Kill(pid, syscall.SIGCONT)
		}
	}()
	for _, pid := range pids {
		switch err := syscall.Kill(pid, syscall.SIGSTOP); {
		case err == nil:
			stopped = append(stopped, pid)
		case !errors.Is(err, syscall.ESRCH):
			return nil, fmt.Errorf("nstest: stop process %d: %w", pid, err)
		}
	}
	for _, pid := range stopped {
		if err := waitStopped(pid, 2*time.Second); err != nil {
			return nil, err
		}
	}
	sizes := make([]int64, len(files))
	for i, f := range files {
		fi, err := os.Stat(f)
		switch {
		case err == nil:
			sizes[i] = fi.Size()
		case errors.Is(err, os.ErrNotExist):
			sizes[i] = -1
		default:
			return nil, err
		}
	}
	return sizes, nil
}

// waitStopped waits until every thread of process pid is stopped (or the
// process has ended): a SIGSTOP is only queued when kill returns, and a
// thread running on another core goes on until it takes it.
func waitStopped(pid int, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	dir := fmt.Sprintf("/proc/%d/task", pid)
	for {
		tasks, err := os.ReadDir(dir)
		if errors.Is(err, os.ErrNotExist) {
			return nil // ended
		}
		if err != nil {
			return fmt.Errorf("nstest: threads of process %d: %w", pid, err)
		}
		all := true
		for _, task := range tasks {
			b, err := os.ReadFile(filepath.Join(dir, task.Name(), "stat"))
			if err != nil {
				continue // the thread ended
			}
			// The state is the field after the command name, which is in
			// parentheses and may hold spaces.
			i := bytes.LastIndexByte(b, ')')
			if i < 0 || i+2 >= len(b) {
				return fmt.Errorf("nstest: cannot parse %s/%s/stat: %q", dir, task.Name(), b)
			}
			switch b[i+2] {
			case 'T', 't', 'Z', 'X':
			default:
				all = false
			}
			if !all {
				break
			}
		}
		if all {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("nstest: process %d did not stop within %v of SIGSTOP", pid, timeout)
		}
		time.Sleep(time.Millisecond)
	}
}
