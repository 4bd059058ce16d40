package sim

import (
	"testing"
	"time"
)

// TestResumeTimersFirst stops every node of a ring for 300 ms, past the
// token timeout, as a stall of the one process that runs them does, with
// the token in one node's socket buffer. Resumed with its timers first,
// every node loses the token at the resume; resumed as Resume does (the
// buffer first), the node whose buffer holds the token takes it and goes
// on, and only the others lose it.
func TestResumeTimersFirst(t *testing.T) {
	t.Parallel()
	for _, first := range []bool{true, false} {
		c := NewCluster(1, 3)
		c.StartAll()
		if !c.RunUntil(c.Now().Add(5*time.Second), c.Converged) {
			t.Fatal("no ring at start")
		}
		for i := range c.Size() {
			c.Pause(i)
		}
		c.RunFor(300 * time.Millisecond)
		lost := 0
		for i := range c.Size() {
			before := c.Node(i).Stats().TokenLosses
			if first {
				c.ResumeTimersFirst(i)
			} else {
				c.Resume(i)
			}
			if c.Node(i).Stats().TokenLosses > before {
				lost++
			}
		}
		if want := map[bool]int{true: 3, false: 2}[first]; lost != want {
			t.Errorf("timers first %v: %d of 3 nodes lost the token at the resume, want %d", first, lost, want)
		}
	}
}
