//go:build stagetrace

package stagetrace

import (
	"encoding/binary"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// TestMark: a benchmark header anywhere in the first bytes of a payload
// (the group layer wraps the client's payload) gives a sample of the time
// since its send time; a payload without one gives none. Run with
// go test -tags stagetrace ./internal/stagetrace/.
func TestMark(t *testing.T) {
	prefix := filepath.Join(t.TempDir(), "st")
	t.Setenv("ATOLL_STAGETRACE", prefix)
	var ts unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts); err != nil {
		t.Fatal(err)
	}
	p := make([]byte, 40)
	copy(p[10:], "ATLB")
	binary.LittleEndian.PutUint64(p[26:], uint64(ts.Nano()-int64(5*time.Millisecond)))
	Mark("x", p)
	Mark("x", make([]byte, 40))
	mu.Lock()
	got := samples["x"]
	mu.Unlock()
	if len(got) != 1 || got[0] < int64(5*time.Millisecond) || got[0] > int64(time.Second) {
		t.Fatalf("samples %v, want one of at least 5ms", got)
	}
	dump()
	b, err := os.ReadFile(prefix + "." + itoa(os.Getpid()))
	if err != nil || !strings.HasPrefix(string(b), "x ") {
		t.Fatalf("dump %q, %v", b, err)
	}
}

func itoa(i int) string {
	var b []byte
	for ; i > 0; i /= 10 {
		b = append([]byte{byte('0' + i%10)}, b...)
	}
	return string(b)
}
