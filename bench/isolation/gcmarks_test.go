package isolation

import (
	"slices"
	"strings"
	"testing"
	"time"
)

// TestGCWriter: a child's stderr passes its lines on, a gctrace line
// prefixed with the site, and each gctrace line marks its cycle's span,
// ending when the line came, whatever the writes' boundaries.
func TestGCWriter(t *testing.T) {
	var out strings.Builder
	end := time.Unix(100, 0)
	var marks [][2]time.Time
	g := &gcWriter{w: &out, site: "a", now: func() time.Time { return end }, mark: func(from, to time.Time) { marks = append(marks, [2]time.Time{from, to}) }}
	in := "time=x level=INFO msg=hello\n" +
		"gc 7 @25.912s 0%: 2.8+19+0.2 ms clock, 5.6+0/9.9/21+0.025 ms cpu, 96->96->58 MB, 113 MB goal, 0 MB stacks, 0 MB globals, 2 P\n" +
		"gc is not a cycle\n"
	for i := 0; i < len(in); i += 7 {
		g.Write([]byte(in[i:min(i+7, len(in))]))
	}
	want := "time=x level=INFO msg=hello\nsite a gctrace: gc 7 @25.912s" + strings.TrimPrefix(strings.Split(in, "\n")[1], "gc 7 @25.912s") + "\ngc is not a cycle\n"
	if out.String() != want {
		t.Errorf("wrote %q, want %q", out.String(), want)
	}
	if len(marks) != 1 || marks[0][1] != end || marks[0][0] != end.Add(-22*time.Millisecond) {
		t.Errorf("marks %v, want one of 22ms ending at %v", marks, end)
	}
}

func TestWithGCTrace(t *testing.T) {
	for _, c := range []struct{ env, want []string }{
		{[]string{"A=1"}, []string{"A=1", "GODEBUG=gctrace=1"}},
		{[]string{"GODEBUG=madvdontneed=1", "A=1"}, []string{"GODEBUG=madvdontneed=1", "A=1", "GODEBUG=madvdontneed=1,gctrace=1"}},
		{[]string{"GODEBUG=gctrace=2"}, []string{"GODEBUG=gctrace=2"}},
	} {
		if got := withGCTrace(c.env); !slices.Equal(got, c.want) {
			t.Errorf("withGCTrace(%q) = %q, want %q", c.env, got, c.want)
		}
	}
}

// TestOverlapsGC: a delivery whose send-to-delivery time overlaps a
// cycle of site a's collector counts there first, abc-global or not.
func TestOverlapsGC(t *testing.T) {
	ms := func(f float64) int64 { return int64(f * float64(time.Millisecond)) }
	busy := map[string][]int64{"a": {ms(100)}}
	gc := []span{{ms(50), ms(60)}, {ms(99), ms(99.5)}}
	var lat, sent []int64
	add := func(at, l float64) { sent = append(sent, ms(at)); lat = append(lat, ms(l)) }
	add(49, 0.5)  // before the first cycle: none
	add(49, 2)    // into it
	add(55, 0.2)  // within it
	add(60, 0.2)  // at its end
	add(98, 2)    // into the second, abc-global at a too
	add(100, 0.3) // after both: abc-global at a
	add(61, 30)   // between them
	got := overlaps(lat, sent, busy, gc)
	n := map[string]int{}
	for _, o := range got {
		n[o.When] = o.Deliveries
	}
	if n[OverlapNone] != 2 || n[OverlapGC] != 4 || n[OverlapSiteA] != 1 {
		t.Errorf("got %+v; want none 2, GC 4, site a 1", got)
	}
	if k, d := gcWithin(gc, ms(55), ms(100)); k != 2 || d != 5500*time.Microsecond {
		t.Errorf("gcWithin: %d cycles, %v; want 2, 5.5ms", k, d)
	}
}
