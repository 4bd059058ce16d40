package netns

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os/exec"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/atoll-gcs/atoll/internal/schedprobe"
	"github.com/atoll-gcs/atoll/tests/internal/nstest"
)

// Group clients in the testbed: `atoll join` processes on the agents'
// client sockets (the data dirs are on the shared file system, so the
// clients run in the test's namespace), and `atoll send` for multicasts.

// cliMember is an `atoll join GROUP -o json` process.
type cliMember struct {
	t    *testing.T
	nd   *Node
	name string
	cmd  *exec.Cmd
	done chan error

	mu     sync.Mutex
	views  []cliEvent
	msgs   []string
	more   chan struct{}
	exited bool
}

// cliEvent is one JSON line of `atoll join -o json`.
type cliEvent struct {
	Event        string   `json:"event"`
	Group        string   `json:"group"`
	ID           string   `json:"id"`
	Members      []string `json:"members"`
	Joined       []string `json:"joined"`
	Left         []string `json:"left"`
	Reason       string   `json:"reason"`
	Transitional bool     `json:"transitional"`
	Sender       string   `json:"sender"`
	Payload      string   `json:"payload"`
	Error        string   `json:"error"`
}

// JoinCLI starts `atoll join group` as client name of node nd.
func (tb *Testbed) JoinCLI(nd *Node, name, group string) *cliMember {
	tb.t.Helper()
	m := &cliMember{t: tb.t, nd: nd, name: name, done: make(chan error, 1), more: make(chan struct{})}
	m.cmd = exec.Command(nstest.Bin, "join", group, "--name", name, "--data-dir", nd.DataDir, "-o", "json")
	out, err := m.cmd.StdoutPipe()
	if err != nil {
		tb.t.Fatal(err)
	}
	var stderr strings.Builder
	m.cmd.Stderr = &stderr
	m.cmd.SysProcAttr = nstest.ProcAttr()
	if err := m.cmd.Start(); err != nil {
		tb.t.Fatal(err)
	}
	tb.t.Cleanup(func() { m.cmd.Process.Kill(); <-m.done })
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			var e cliEvent
			if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
				tb.t.Errorf("%s: not a JSON line: %s", name, sc.Text())
				continue
			}
			m.mu.Lock()
			switch e.Event {
			case "view":
				m.views = append(m.views, e)
			case "message":
				m.msgs = append(m.msgs, e.Payload)
			}
			close(m.more)
			m.more = make(chan struct{})
			m.mu.Unlock()
		}
		err := m.cmd.Wait()
		if err != nil && stderr.Len() > 0 {
			err = fmt.Errorf("%w: %s", err, strings.TrimSpace(stderr.String()))
		}
		m.mu.Lock()
		m.exited = true
		close(m.more)
		m.more = make(chan struct{})
		m.mu.Unlock()
		m.done <- err
	}()
	return m
}

func (m *cliMember) member() string { return m.nd.ID + ":" + m.name }

// wait waits until cond holds for the member's views and messages.
func (m *cliMember) wait(what string, timeout time.Duration, cond func(views []cliEvent, msgs []string) bool) {
	m.t.Helper()
	deadline := time.After(timeout)
	for {
		m.mu.Lock()
		ok, more, exited := cond(m.views, m.msgs), m.more, m.exited
		m.mu.Unlock()
		if ok {
			return
		}
		if exited {
			m.t.Fatalf("%s exited before %s", m.member(), what)
		}
		select {
		case <-more:
		case <-deadline:
			m.mu.Lock()
			defer m.mu.Unlock()
			m.t.Fatalf("%s: no %s within %v; its views: %+v", m.member(), what, timeout, m.views)
		}
	}
}

// waitView waits for a regular view with exactly members, and returns it.
func (m *cliMember) waitView(timeout time.Duration, members ...string) cliEvent {
	m.t.Helper()
	var v cliEvent
	m.wait(fmt.Sprintf("view %v", members), timeout, func(vs []cliEvent, _ []string) bool {
		for _, e := range slices.Backward(vs) {
			if !e.Transitional {
				v = e
				return slices.Equal(e.Members, members)
			}
		}
		return false
	})
	return v
}

func (m *cliMember) messages() []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	return slices.Clone(m.msgs)
}

func (m *cliMember) allViews() []cliEvent {
	m.mu.Lock()
	defer m.mu.Unlock()
	return slices.Clone(m.views)
}

// stop interrupts the member (it leaves the group) and waits for it.
func (m *cliMember) stop() error {
	m.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-m.done:
		m.done <- err
		return err
	case <-time.After(10 * time.Second):
		return fmt.Errorf("%s did not exit within 10s of SIGTERM", m.member())
	}
}

// exitErr waits for a member that is expected to end by itself.
func (m *cliMember) exitErr(timeout time.Duration) (error, bool) {
	select {
	case err := <-m.done:
		m.done <- err
		return err, true
	case <-time.After(timeout):
		return nil, false
	}
}

// SendCLI runs `atoll send group payload` on node nd.
func (tb *Testbed) SendCLI(nd *Node, group, payload string) {
	tb.t.Helper()
	out, err := exec.Command(nstest.Bin, "send", group, payload, "--data-dir", nd.DataDir).CombinedOutput()
	if err != nil {
		tb.t.Fatalf("atoll send on %s: %v\n%s", nd.ID, err, out)
	}
}

// TestGroupsCLI runs `atoll join` members on three agents through a
// crash, a partition and its heal, and a restart: every member sees the
// views of the members it stays with, the messages in one order, the
// reasons of the departures; the agents' traces, which hold the group
// views and messages, pass the EVS checker.
func TestGroupsCLI(t *testing.T) {
	tb := startRing(t, 3, Multicast)
	const g = "chat"
	m1 := tb.JoinCLI(tb.Node("n1"), "m1", g)
	m1.waitView(10*time.Second, "n1:m1")
	m2 := tb.JoinCLI(tb.Node("n2"), "m2", g)
	m2.waitView(10*time.Second, "n1:m1", "n2:m2")
	m3 := tb.JoinCLI(tb.Node("n3"), "m3", g)
	three := []string{"n1:m1", "n2:m2", "n3:m3"}
	for _, m := range []*cliMember{m1, m2, m3} {
		m.waitView(10*time.Second, three...)
	}

	// Messages from every node, received in one order by all.
	for i := range 5 {
		for _, id := range all3 {
			tb.SendCLI(tb.Node(id), g, fmt.Sprintf("%s-%d", id, i))
		}
	}
	for _, m := range []*cliMember{m1, m2, m3} {
		m.wait("15 messages", 10*time.Second, func(_ []cliEvent, msgs []string) bool { return len(msgs) >= 15 })
	}
	if a, b, c := m1.messages(), m2.messages(), m3.messages(); !slices.Equal(a, b) || !slices.Equal(a, c) {
		t.Errorf("different orders:\n%v\n%v\n%v", a, b, c)
	}

	// A crash: n2's member loses its agent; the others see it leave.
	tb.Node("n2").Kill()
	tb.WaitRing(formTimeout, []string{"n1", "n3"})
	for _, m := range []*cliMember{m1, m3} {
		v := m.waitView(10*time.Second, "n1:m1", "n3:m3")
		if v.Reason != "network" || !slices.Equal(v.Left, []string{"n2:m2"}) {
			t.Errorf("%s: view after the crash of n2: %+v, want n2:m2 left for reason network", m.member(), v)
		}
	}
	if err, ended := m2.exitErr(10 * time.Second); !ended || err == nil {
		t.Errorf("the member of the crashed agent: ended %v, %v; want a failure", ended, err)
	} else {
		t.Logf("the member of the crashed agent: %v", err)
	}

	// A partition: each side carries on alone.
	tb.Partition([]string{"n1"}, []string{"n3"})
	tb.WaitRing(formTimeout, []string{"n1"}, []string{"n3"})
	m1.waitView(10*time.Second, "n1:m1")
	m3.waitView(10*time.Second, "n3:m3")
	before1, before3 := len(m1.messages()), len(m3.messages())
	tb.SendCLI(tb.Node("n1"), g, "side-1")
	tb.SendCLI(tb.Node("n3"), g, "side-3")
	m1.wait("side-1", 10*time.Second, func(_ []cliEvent, msgs []string) bool { return len(msgs) > before1 })
	m3.wait("side-3", 10*time.Second, func(_ []cliEvent, msgs []string) bool { return len(msgs) > before3 })
	if got := m1.messages()[before1:]; !slices.Equal(got, []string{"side-1"}) {
		t.Errorf("n1's side got %v", got)
	}
	if got := m3.messages()[before3:]; !slices.Equal(got, []string{"side-3"}) {
		t.Errorf("n3's side got %v", got)
	}

	// The heal: the sides merge, and so does the group.
	tb.Heal()
	tb.WaitRing(formTimeout, []string{"n1", "n3"})
	for _, m := range []*cliMember{m1, m3} {
		if v := m.waitView(20*time.Second, "n1:m1", "n3:m3"); v.Reason != "network" {
			t.Errorf("%s: view after the heal: %+v", m.member(), v)
		}
	}

	// n2 comes back with a new member.
	tb.Node("n2").Start()
	tb.WaitRing(formTimeout, all3)
	m2b := tb.JoinCLI(tb.Node("n2"), "m2b", g)
	for _, m := range []*cliMember{m1, m2b, m3} {
		m.waitView(10*time.Second, "n1:m1", "n3:m3", "n2:m2b")
	}
	b1, b2, b3 := len(m1.messages()), len(m2b.messages()), len(m3.messages())
	for _, id := range all3 {
		tb.SendCLI(tb.Node(id), g, "after-"+id)
	}
	for _, m := range []*cliMember{m1, m2b, m3} {
		m.wait("3 more messages", 10*time.Second, func(_ []cliEvent, msgs []string) bool { return len(msgs) >= 3 })
	}
	time.Sleep(200 * time.Millisecond)
	if a, b, c := m1.messages()[b1:], m2b.messages()[b2:], m3.messages()[b3:]; !slices.Equal(a, b) || !slices.Equal(a, c) || len(a) != 3 {
		t.Errorf("after the restart, different messages or orders:\n%v\n%v\n%v", a, b, c)
	}

	// Agreement: a view id means the same members to every member.
	byID := map[string][]string{}
	for _, m := range []*cliMember{m1, m2, m3, m2b} {
		for _, v := range m.allViews() {
			if prev, ok := byID[v.ID]; ok && !slices.Equal(prev, v.Members) {
				t.Errorf("view %s: %v at one member, %v at %s", v.ID, prev, v.Members, m.member())
			}
			byID[v.ID] = v.Members
		}
	}

	// The members leave on SIGTERM: the last one sees the others go.
	for _, m := range []*cliMember{m1, m2b} {
		if err := m.stop(); err != nil {
			t.Errorf("%s: %v", m.member(), err)
		}
	}
	if v := m3.waitView(10*time.Second, "n3:m3"); v.Reason != "leave" {
		t.Errorf("view after the others left: %+v", v)
	}
	if err := m3.stop(); err != nil {
		t.Errorf("%s: %v", m3.member(), err)
	}
	tb.Finish(true)
}

// TestSlowClient: an `atoll join` member at n1 stops reading (SIGSTOP)
// while 24 messages of almost 1 MiB come to its group from n2, more than
// its session's queue bound (agent.DefaultClientQueueBytes, 16 MiB) and
// its socket's buffer hold, and nothing follows. n1 must evict it
// (counted) once its queue has stayed over the bound for the grace,
// though no frame comes for it after the burst, and the ring must not
// change meanwhile; the agents' traces pass the EVS checker.
//
// The agents run the cloud preset's 1 s token timeout, not the LAN's
// 200 ms: the burst is 24 MiB that every agent seals or opens, and on a
// host at load 14-17 the LAN ring lost its token 1-4 times in the test's
// window, the stopped client or not (docs/BENCHMARKS.md), so the check
// judged the host. A stopped client that held n1's loop would hold it
// until its eviction, the grace (2 s) after its queue passed the bound at
// the earliest, or for good: beyond 1 s either way, so the ring changes
// and the test fails as it did with 200 ms.
func TestSlowClient(t *testing.T) {
	tb := NewTestbed(t, 3, Multicast)
	tb.preset = "cloud"
	tb.StartAll()
	tb.WaitRing(formTimeout, all3)
	n1, n2 := tb.Node("n1"), tb.Node("n2")
	m := tb.JoinCLI(n1, "slow", "big")
	m.waitView(formTimeout, "n1:slow")
	ring0 := tb.WaitRing(formTimeout, all3)
	before := ring0["n1"].Counters
	if err := m.cmd.Process.Signal(syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	payload := strings.Repeat("x", 1<<20-1024) // under the limit with headers
	for range 24 {
		c := exec.Command(nstest.Bin, "send", "big", "-", "--data-dir", n2.DataDir)
		c.Stdin = strings.NewReader(payload)
		if out, err := c.CombinedOutput(); err != nil {
			t.Fatalf("atoll send on n2: %v\n%s", err, out)
		}
	}
	deadline := time.Now().Add(20 * time.Second)
	ring1, after := ring0, before
	for after.ClientsEvicted == before.ClientsEvicted && time.Now().Before(deadline) {
		time.Sleep(100 * time.Millisecond)
		ring1 = tb.WaitRing(formTimeout, all3)
		after = ring1["n1"].Counters
	}
	m.cmd.Process.Signal(syscall.SIGCONT)
	t.Logf("n1 evicted %d clients (%d warned); rings installed at n1 %d, then %d", after.ClientsEvicted-before.ClientsEvicted, after.ClientWarnings-before.ClientWarnings, before.RingsInstalled, after.RingsInstalled)
	if after.ClientsEvicted == before.ClientsEvicted {
		t.Errorf("n1 did not evict the member that stopped reading within 20s")
	}
	if after.RingsInstalled != before.RingsInstalled {
		// Which nodes lost the token, and how busy the host was: on a host
		// at load 13-17 an idle ring loses its token every few seconds
		// (docs/BENCHMARKS.md), a slow client or not.
		var lost []string
		for _, id := range all3 {
			lost = append(lost, fmt.Sprintf("%s %d", id, ring1[id].Counters.TokenLosses-ring0[id].Counters.TokenLosses))
		}
		t.Errorf("the ring changed while a client stopped reading: %d rings installed at n1, then %d; token losses meanwhile: %s; load average %s",
			before.RingsInstalled, after.RingsInstalled, strings.Join(lost, ", "), schedprobe.LoadAvg())
	}
	tb.Finish(true)
}
