package agent_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/atoll-gcs/atoll/agent"
	"github.com/atoll-gcs/atoll/internal/agenttest"
	"github.com/atoll-gcs/atoll/localring"
)

// TestSubmitRefuses: Submit refuses a message larger than the ring's
// MaxMessageBytes with ErrTooLarge, saying the limit, and an unknown
// service level with ErrBadService, saying the valid ones; a message of
// exactly the limit is taken.
func TestSubmitRefuses(t *testing.T) {
	const limit = 64 << 10
	c := agenttest.New(t.TempDir(), 1)
	a, err := c.Start("n1", func(cfg *agent.Config) { cfg.Ring.MaxMessageBytes = limit })
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.StopAll(5 * time.Second) })
	if err := c.WaitRing([]string{"n1"}, 10*time.Second); err != nil {
		t.Fatal(err)
	}
	err = a.Submit(localring.Agreed, make([]byte, limit+1))
	if !errors.Is(err, localring.ErrTooLarge) || !strings.Contains(err.Error(), "65537 bytes, more than the ring's 65536") {
		t.Errorf("Submit of %d bytes: %v, want ErrTooLarge naming the limit", limit+1, err)
	}
	err = a.Submit(localring.Service(7), []byte("x"))
	if !errors.Is(err, localring.ErrBadService) || !strings.Contains(err.Error(), "want 1 (Unreliable) to 6 (Safe)") {
		t.Errorf("Submit at service 7: %v, want ErrBadService naming the levels", err)
	}
	if err := a.Submit(localring.Agreed, make([]byte, limit)); err != nil {
		t.Errorf("Submit of %d bytes: %v", limit, err)
	}
}
