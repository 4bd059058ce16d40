package agent

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"

	"github.com/atoll-gcs/atoll/internal/securefile"
)

// stateFileName is the state file in the data dir.
const stateFileName = "state.json"

// lockFileName is the lock file in the data dir: an agent holds an
// exclusive flock on it while it runs, so that two agents never share a
// data dir (and with it an incarnation: a reused nonce).
const lockFileName = "lock"

// state is what an agent persists across restarts.
type state struct {
	// Node is the node id the data dir belongs to.
	Node string `json:"node"`
	// Incarnation is the incarnation of the last start. The next start
	// uses seal.NextIncarnation of it.
	Incarnation uint64 `json:"incarnation"`
	// RingSeq is at least the highest ring sequence number the node has
	// sent or seen: the driver saves it ahead (driver.Config.RingSeqReserve)
	// before anything reveals a higher one.
	RingSeq uint64 `json:"ring_seq"`
}

// readState reads the state file of dir; a missing file is the zero state.
func readState(dir string) (state, error) {
	path := filepath.Join(dir, stateFileName)
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return state{}, nil
	}
	if err != nil {
		return state{}, fmt.Errorf("agent: read state file: %w", err)
	}
	var s state
	if err := json.Unmarshal(b, &s); err != nil {
		return state{}, fmt.Errorf("agent: state file %s is damaged (%v); if no agent is running with this data dir, delete the file: the next start derives a fresh incarnation from the clock", path, err)
	}
	return s, nil
}

// writeState replaces the state file of dir atomically and durably
// (securefile.Write: a synced temporary file renamed over the old one,
// the directory synced).
func writeState(dir string, s state) error {
	b, err := json.Marshal(s)
	if err != nil {
		return err
	}
	if err := securefile.Write(filepath.Join(dir, stateFileName), append(b, '\n'), true); err != nil {
		return fmt.Errorf("agent: write state file: %w", err)
	}
	return nil
}

// DataDirMode is the mode of a data dir the agent creates: the agent's
// user may write, its group may enter it to reach the client socket
// (mode 0660), others may not.
const DataDirMode = 0o750

// checkDataDir refuses a data dir that others could tamper with: one that
// is world-writable, or below a directory that is world-writable without
// the sticky bit (anyone could rename the data dir away and put another
// in its place, with a socket of theirs). A missing dir is fine.
func checkDataDir(dir string) error {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return fmt.Errorf("agent: data dir %s: %w", dir, err)
	}
	if fi, err := os.Stat(abs); err == nil {
		if !fi.IsDir() {
			return fmt.Errorf("agent: data dir %s is not a directory; choose a directory of the agent's own (--data-dir)", dir)
		}
		if m := fi.Mode(); m.Perm()&0o002 != 0 {
			return fmt.Errorf("agent: data dir %s is world-writable (mode %04o): anyone could replace its sockets or its state; run `chmod %o %s`, or choose a directory only the agent's user can write (--data-dir)", dir, unixMode(m), DataDirMode, abs)
		}
	}
	for p := filepath.Dir(abs); ; p = filepath.Dir(p) {
		if fi, err := os.Stat(p); err == nil {
			if m := fi.Mode(); m.Perm()&0o002 != 0 && m&os.ModeSticky == 0 {
				return fmt.Errorf("agent: data dir %s is below %s, which is world-writable without the sticky bit (mode %04o): anyone could move the data dir away and plant another; run `chmod o-w %s` (or `chmod +t`), or choose another --data-dir", dir, p, unixMode(m), p)
			}
		}
		if p == filepath.Dir(p) {
			return nil
		}
	}
}

// unixMode returns the permission, setuid, setgid and sticky bits of m as
// chmod writes them.
func unixMode(m os.FileMode) uint32 {
	u := uint32(m.Perm())
	if m&os.ModeSetuid != 0 {
		u |= 0o4000
	}
	if m&os.ModeSetgid != 0 {
		u |= 0o2000
	}
	if m&os.ModeSticky != 0 {
		u |= 0o1000
	}
	return u
}

// lockDataDir checks dir (checkDataDir), creates it with DataDirMode if
// needed and takes its lock. The lock file holds the owner's process id,
// for the error message of the next one.
func lockDataDir(dir string) (*os.File, error) {
	if err := checkDataDir(dir); err != nil {
		return nil, err
	}
	if _, err := os.Stat(dir); errors.Is(err, fs.ErrNotExist) {
		if err := os.MkdirAll(dir, DataDirMode); err != nil {
			return nil, fmt.Errorf("agent: data dir: %w", err)
		}
		// Whatever the umask: the group must reach the client socket.
		if err := os.Chmod(dir, DataDirMode); err != nil {
			return nil, fmt.Errorf("agent: data dir: %w", err)
		}
	}
	path := filepath.Join(dir, lockFileName)
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("agent: data dir lock: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		owner := "another process"
		if b, rerr := os.ReadFile(path); rerr == nil {
			if pid, perr := strconv.Atoi(strings.TrimSpace(string(b))); perr == nil {
				owner = "process " + strconv.Itoa(pid)
			}
		}
		f.Close()
		return nil, fmt.Errorf("agent: data dir %s is in use by %s (an agent already runs with it); give each agent its own --data-dir", dir, owner)
	}
	if err := f.Truncate(0); err == nil {
		f.WriteAt([]byte(strconv.Itoa(os.Getpid())+"\n"), 0)
	}
	return f, nil
}
