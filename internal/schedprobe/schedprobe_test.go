package schedprobe

import (
	"os"
	"strings"
	"testing"
	"time"
)

func TestWithin(t *testing.T) {
	p := &Probe{stalls: []Stall{{10, 20}, {30, 50}, {60, 61}}}
	if sum, n, longest := p.Within(15, 40); sum != 15 || n != 2 || longest != 10 {
		t.Errorf("Within(15, 40) = %v, %d, %v, want 15, 2, 10", sum, n, longest)
	}
	if sum, n, _ := p.Within(20, 30); sum != 0 || n != 0 {
		t.Errorf("Within(20, 30) = %v, %d, want nothing: the stalls only touch it", sum, n)
	}
}

func TestRecordsAStall(t *testing.T) {
	got := make(chan Stall, 16)
	p := Start(time.Now(), 0, func(s Stall) { got <- s })
	defer p.Stop()
	select {
	case s := <-got:
		if s.To < s.From {
			t.Errorf("stall %+v ends before it starts", s)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("a probe recording every wake-up (min 0) recorded none in 5 s")
	}
}

func TestLoadAvg(t *testing.T) {
	got := LoadAvg()
	if _, err := os.Stat("/proc/loadavg"); err != nil {
		if got != "?" {
			t.Errorf("LoadAvg without /proc/loadavg = %q, want ?", got)
		}
		return
	}
	if f := strings.Fields(got); len(f) != 3 {
		t.Errorf("LoadAvg = %q, want three load averages", got)
	}
}
