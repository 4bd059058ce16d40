package isolation

import (
	"bytes"
	"cmp"
	"fmt"
	"io"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
)

// The collectors of the site processes, on the run's clock.
//
// A site's process (a child) runs with the runtime's gctrace on (GODEBUG
// gctrace=1, withGCTrace): at the end of every cycle the runtime writes a
// line to the child's stderr with the cycle's wall-clock times (the stop
// to start marking, the concurrent mark, the mark termination). The
// coordinator reads the child's stderr as it comes (gcWriter), so the
// line's arrival is the cycle's end within the pipe's delay, and its
// times give the cycle's start: a span on the run's clock per cycle, by
// site. Overlap splits a-local's deliveries by them: a message whose
// send-to-delivery time overlaps a cycle of site a's process met a
// collector taking a share of that process's threads (its fractional
// mark worker, the assists it charges the allocating goroutines, its
// idle workers on the host's cores). In one run (2026-12-07, main
// 6b91ece) one 45 ms cycle of site a's process in a saturating phase's
// measured part held 28 of the 61 deliveries of that round's p99 tail.
// The gctrace lines stay in the agents' logs, prefixed with the site.
// With Config.OneProcess there is no child: no spans, no such row.

// gctraceLine matches a gctrace line's start: the cycle's three clock
// times in ms (runtime/extern.go: "gc # @#s #%: #+#+# ms clock, ...").
var gctraceLine = regexp.MustCompile(`^gc \d+ @[0-9.]+s \d+%: ([0-9.]+)\+([0-9.]+)\+([0-9.]+) ms clock`)

// span is a time span on the run's clock, ns.
type span struct{ from, to int64 }

// gcWriter is a child's stderr: it writes every line to w, a gctrace
// line prefixed with the site, and calls mark with the span of the cycle
// each gctrace line reports, ending at now.
type gcWriter struct {
	w    io.Writer
	site string
	now  func() time.Time
	mark func(from, to time.Time)
	buf  []byte
}

func (g *gcWriter) Write(p []byte) (int, error) {
	g.buf = append(g.buf, p...)
	for {
		i := bytes.IndexByte(g.buf, '\n')
		if i < 0 {
			break
		}
		line := g.buf[:i+1]
		if d, ok := gcCycle(line); ok {
			end := g.now()
			if g.mark != nil {
				g.mark(end.Add(-d), end)
			}
			fmt.Fprintf(g.w, "site %s gctrace: %s", g.site, line)
		} else if _, err := g.w.Write(line); err != nil {
			return len(p), err
		}
		g.buf = g.buf[i+1:]
	}
	if len(g.buf) == 0 {
		g.buf = nil // the array, not kept for the next line
	}
	return len(p), nil
}

// gcCycle returns the wall-clock length of the cycle a gctrace line
// reports, and whether line is one.
func gcCycle(line []byte) (time.Duration, bool) {
	m := gctraceLine.FindSubmatch(line)
	if m == nil {
		return 0, false
	}
	var ms float64
	for _, s := range m[1:] {
		v, err := strconv.ParseFloat(string(s), 64)
		if err != nil {
			return 0, false
		}
		ms += v
	}
	return time.Duration(ms * float64(time.Millisecond)), true
}

// withGCTrace returns env with gctrace=1 in its GODEBUG (the last
// GODEBUG's other settings kept; a gctrace setting of its own kept as it
// is).
func withGCTrace(env []string) []string {
	debug := ""
	for _, kv := range env {
		if v, ok := strings.CutPrefix(kv, "GODEBUG="); ok {
			debug = v
		}
	}
	for s := range strings.SplitSeq(debug, ",") {
		if strings.HasPrefix(s, "gctrace=") {
			return env
		}
	}
	if debug != "" {
		debug += ","
	}
	return append(slices.Clip(env), "GODEBUG="+debug+"gctrace=1")
}

// noteGC records a cycle of site's process (the children's gcWriter).
func (b *runner) noteGC(site string, from, to time.Time) {
	b.gcMu.Lock()
	defer b.gcMu.Unlock()
	if b.gcMarks == nil {
		b.gcMarks = map[string][]span{}
	}
	b.gcMarks[site] = append(b.gcMarks[site], span{from.UnixNano() - b.clk.base, to.UnixNano() - b.clk.base})
}

// gcSpans returns the cycles of site's process so far, in order.
func (b *runner) gcSpans(site string) []span {
	b.gcMu.Lock()
	defer b.gcMu.Unlock()
	s := slices.Clone(b.gcMarks[site])
	slices.SortFunc(s, func(x, y span) int { return cmp.Compare(x.from, y.from) })
	return s
}

// gcWithin returns how many of spans overlap [from, to] and for how long
// in all, within it.
func gcWithin(spans []span, from, to int64) (n int, d time.Duration) {
	for _, s := range spans {
		if s.to >= from && s.from <= to {
			n++
			d += time.Duration(min(s.to, to) - max(s.from, from))
		}
	}
	return n, d
}

// overlapsSpan reports whether [at, at+l] overlaps one of spans, sorted
// and apart from each other (one process's cycles).
func overlapsSpan(spans []span, at, l int64) bool {
	i, _ := slices.BinarySearchFunc(spans, at, func(s span, t int64) int {
		switch {
		case s.to < t:
			return -1
		case s.to > t:
			return 1
		}
		return 0
	})
	return i < len(spans) && spans[i].from <= at+l
}
