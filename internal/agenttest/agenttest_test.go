package agenttest

import (
	"strings"
	"testing"
	"time"
)

// TestCluster starts two agents into one ring, refuses a second start of
// a running agent and a node it does not have, and stops them.
func TestCluster(t *testing.T) {
	c := New(t.TempDir(), 2)
	defer c.StopAll(10 * time.Second)
	for _, id := range c.IDs {
		if _, err := c.Start(id, nil); err != nil {
			t.Fatal(err)
		}
	}
	if err := c.WaitRing(c.IDs, 20*time.Second); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Start("n1", nil); err == nil || !strings.Contains(err.Error(), "running") {
		t.Errorf("a second start of n1: %v, want an error", err)
	}
	if _, err := c.Start("n9", nil); err == nil {
		t.Error("a start of a node the cluster does not have succeeded")
	}
	if err := c.Stop("n2", 10*time.Second); err != nil {
		t.Fatal(err)
	}
	if c.Agent("n2") != nil {
		t.Error("n2 still listed after Stop")
	}
	if ok, _ := c.InOneRing(c.IDs); ok {
		t.Error("InOneRing holds with n2 stopped")
	}
	if err := c.StopAll(10 * time.Second); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Traces(); err != nil {
		t.Fatal(err)
	}
}
