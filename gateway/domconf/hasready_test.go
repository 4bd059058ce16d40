package domconf

import (
	"testing"

	"github.com/atoll-gcs/atoll/internal/readytest"
)

// TestHasReady: HasReady answers for every field of Ready, so that a
// driver that skips Ready when it says false leaves nothing behind.
func TestHasReady(t *testing.T) {
	v := &View{}
	readytest.Fields(t, &v.out, v.HasReady, func() { v.Ready() })
}
