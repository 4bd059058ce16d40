package syncbuf_test

import (
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/atoll-gcs/atoll/internal/syncbuf"
)

// TestConcurrentWriters: lines written by several goroutines at once all
// end up whole in the buffer, read while they are written (run with -race).
func TestConcurrentWriters(t *testing.T) {
	var b syncbuf.Buffer
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Go(func() {
			for i := range 100 {
				fmt.Fprintf(&b, "g%d line %d\n", g, i)
				_ = b.String()
			}
		})
	}
	wg.Wait()
	lines := strings.Split(strings.TrimSuffix(b.String(), "\n"), "\n")
	if len(lines) != 400 {
		t.Fatalf("%d lines, want 400", len(lines))
	}
	seen := map[string]bool{}
	for _, l := range lines {
		seen[l] = true
	}
	for g := range 4 {
		for i := range 100 {
			if l := fmt.Sprintf("g%d line %d", g, i); !seen[l] {
				t.Fatalf("line %q missing or torn", l)
			}
		}
	}
}

// TestWriter: a Writer hands its sink one write at a time (a
// strings.Builder, which is not safe for concurrent use: run with -race).
func TestWriter(t *testing.T) {
	var sb strings.Builder
	w := &syncbuf.Writer{W: &sb}
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Go(func() {
			for i := range 100 {
				fmt.Fprintf(w, "g%d line %d\n", g, i)
			}
		})
	}
	wg.Wait()
	if n := strings.Count(sb.String(), "\n"); n != 400 {
		t.Fatalf("%d lines, want 400", n)
	}
}
