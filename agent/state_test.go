package agent

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/atoll-gcs/atoll/localring"
	"github.com/atoll-gcs/atoll/localring/driver"
)

// TestRingSeqSavedBeforeInstall: when a subscriber sees a configuration
// installed, the state file already holds its ring sequence number (the
// driver saves it before the events and packets that reveal it).
func TestRingSeqSavedBeforeInstall(t *testing.T) {
	c := newCluster(t, 2)
	a := c.start("n1", nil)
	sub := a.Subscribe(4096)
	c.start("n2", nil)
	c.waitRing([]string{"n1", "n2"}, 5*time.Second)
	c.stop("n2")
	c.waitRing([]string{"n1"}, 5*time.Second)
	installs := 0
	for len(sub.C) > 0 {
		e := <-sub.C
		if e.Kind != localring.EventInstall || e.Conf.Kind != localring.Regular {
			continue
		}
		installs++
		st, err := readState(filepath.Join(c.dir, "n1"))
		if err != nil {
			t.Fatal(err)
		}
		if st.RingSeq < e.Conf.Ring.Seq {
			t.Errorf("state file holds ring seq %d after %s was installed", st.RingSeq, e.Conf.ID)
		}
	}
	if installs < 2 {
		t.Errorf("saw %d regular installs, want at least 2", installs)
	}
}

// TestStateNotSaved: an agent that cannot write its state file stops with
// an error that says so before it sends a new ring sequence number, so the
// other node never has it in a ring.
func TestStateNotSaved(t *testing.T) {
	c := newCluster(t, 2)
	c.start("n1", nil)
	// Break the state file's writes after New wrote the incarnation: the
	// state file becomes a directory, which no file can be renamed over.
	path := filepath.Join(c.dir, "n1", stateFileName)
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(path, 0o700); err != nil {
		t.Fatal(err)
	}
	r := c.agents["n1"]
	sub := c.start("n2", nil).Subscribe(4096)
	var err error
	select {
	case err = <-r.done:
		delete(c.agents, "n1")
	case <-time.After(10 * time.Second):
		t.Fatal("n1 did not stop")
	}
	if !errors.Is(err, driver.ErrStateNotSaved) || !strings.Contains(err.Error(), "node n1") {
		t.Fatalf("Run(n1) = %v, want driver.ErrStateNotSaved naming n1", err)
	}
	c.waitRing([]string{"n2"}, 5*time.Second)
	for len(sub.C) > 0 {
		if e := <-sub.C; e.Kind == localring.EventInstall && slices.Contains(e.Conf.MemberIDs(), "n1") {
			t.Errorf("n2 installed %s with n1", e.Conf.ID)
		}
	}
}
