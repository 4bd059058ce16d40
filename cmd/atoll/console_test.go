package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/atoll-gcs/atoll/agent"
	"github.com/atoll-gcs/atoll/client"
	"github.com/atoll-gcs/atoll/gateway"
)

// tmux drives a program in a terminal of its own tmux server, as a
// person would: it types keys and reads the screen.
type tmux struct {
	t      *testing.T
	socket string // the private server's name (-L)
}

func newTmux(t *testing.T, width, height int, command string) *tmux {
	t.Helper()
	if _, err := exec.LookPath("tmux"); err != nil {
		t.Skip("tmux is not installed: the console is tested by driving it in a tmux terminal (.ci/run installs tmux)")
	}
	tm := &tmux{t: t, socket: fmt.Sprintf("atoll-test-%d", os.Getpid())}
	tm.run("new-session", "-d", "-s", "console", "-x", fmt.Sprint(width), "-y", fmt.Sprint(height), command)
	t.Cleanup(func() { exec.Command("tmux", "-L", tm.socket, "kill-server").Run() })
	return tm
}

func (tm *tmux) run(args ...string) string {
	tm.t.Helper()
	out, err := exec.Command("tmux", append([]string{"-L", tm.socket}, args...)...).CombinedOutput()
	if err != nil {
		tm.t.Fatalf("tmux %v: %v: %s", args, err, out)
	}
	return string(out)
}

// typeLine types line and Enter.
func (tm *tmux) typeLine(line string) {
	tm.t.Helper()
	tm.run("send-keys", "-t", "console", "-l", line)
	tm.run("send-keys", "-t", "console", "Enter")
}

func (tm *tmux) screen() string {
	tm.t.Helper()
	return tm.run("capture-pane", "-p", "-t", "console")
}

// waitScreen waits until the screen matches re, and returns it.
func (tm *tmux) waitScreen(re string) string {
	tm.t.Helper()
	rx := regexp.MustCompile(re)
	deadline := time.Now().Add(15 * time.Second)
	for {
		s := tm.screen()
		if rx.MatchString(s) {
			return s
		}
		if time.Now().After(deadline) {
			tm.t.Fatalf("the console's screen does not show %q after 15s:\n%s", re, s)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// TestConsole drives `atoll console` in a terminal: the live view shows
// the ring, the groups and the clients and follows their changes; the
// commands join, send, evict, loglevel and handover do what they say.
func TestConsole(t *testing.T) {
	dirs := startAgents(t, 2, 3) // n1 and n2 of n1..n3: degraded
	dataDir := dirs[0]
	ctx := context.Background()
	app, err := client.Dial(ctx, "unix://"+filepath.Join(dataDir, agent.ClientSocketName), client.WithName("app"))
	if err != nil {
		t.Fatal(err)
	}
	defer app.Close()
	if err := app.Join(ctx, "orders"); err != nil {
		t.Fatal(err)
	}
	bin, err := filepath.Abs(os.Args[0])
	if err != nil {
		t.Fatal(err)
	}
	tm := newTmux(t, 130, 40, fmt.Sprintf("env ATOLL_TEST_MAIN=1 %s console --data-dir %s --interval 300ms --name ops", bin, dataDir))

	// The live view.
	tm.waitScreen(`node n1 +site lab +cluster c +DEGRADED`)
	tm.waitScreen(`RING r:\S+ +operational .* members 2 of 3: n1 n2\n  missing n3`)
	tm.waitScreen(`(?m)^  orders +1 +1 +[-0-9.]+ +\S+ +n1:app$`)
	tm.waitScreen(`(?m)^  app +unix +queued 0 frames 0 bytes +groups orders$`)
	tm.waitScreen(`rotation \d\S*s +delivered`) // a rate, after two readings

	// join and send: the console's client is in the group, and app gets
	// the message.
	tm.typeLine("join orders")
	tm.waitScreen(`joined orders`)
	tm.waitScreen(`(?m)^  orders +2 +2 +[-0-9.]+ +\S+ +n1:app n1:ops$`)
	tm.typeLine("send orders hello from tmux")
	tm.waitScreen(`\[orders\] n1:ops: hello from tmux`)
	waitMessage(t, app, "hello from tmux")

	// The manipulations.
	tm.typeLine("loglevel")
	tm.waitScreen(`log level unknown \(fixed: the agent was started without a changeable level\)`)
	tm.typeLine("loglevel debug") // an agent embedded without Config.LogLevel
	tm.waitScreen(`error: .*501 Not Implemented: not supported: agent n1 was started without a changeable log level`)
	tm.typeLine("handover fed/x")
	tm.waitScreen(`error: .*404 Not Found: not found: "fed/x" is not a federation domain of site`)
	tm.typeLine("frobnicate")
	tm.waitScreen(`unknown command "frobnicate"; type help`)
	tm.typeLine("evict app operator test")
	tm.waitScreen(`client app evicted`)
	tm.waitScreen(`\[orders\] view \S+: n1:ops \(left n1:app, disconnect\)`)
	tm.waitScreen(`(?m)^CLIENTS \(1\)\n  ops `)
	for range app.Events() {
	}
	if err := app.Err(); err == nil || !strings.Contains(err.Error(), "evicted by an operator of agent n1: operator test") {
		t.Errorf("the evicted client's error: %v", err)
	}
	screen := tm.screen()
	if path := os.Getenv("ATOLL_CONSOLE_SCREEN"); path != "" {
		os.WriteFile(path, []byte(screen), 0o644)
	}
	t.Logf("the console's screen:\n%s", screen)

	// quit ends it, and the terminal is given back.
	tm.typeLine("quit")
	deadline := time.Now().Add(10 * time.Second)
	for exec.Command("tmux", "-L", tm.socket, "has-session", "-t", "console").Run() == nil {
		if time.Now().After(deadline) {
			t.Fatalf("the console did not quit:\n%s", tm.screen())
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// waitMessage waits for a message with payload text on c.
func waitMessage(t *testing.T, c *client.Client, text string) {
	t.Helper()
	timeout := time.After(10 * time.Second)
	for {
		select {
		case e, ok := <-c.Events():
			if !ok {
				t.Fatalf("the client's session ended: %v", c.Err())
			}
			if e.Kind == client.EventMessage && string(e.Message.Payload) == text {
				return
			}
		case <-timeout:
			t.Fatalf("no message %q within 10s", text)
		}
	}
}

// TestConsoleRender: the screen fits the terminal exactly: the view, a
// rule, the output's last lines and the prompt with the typed line.
func TestConsoleRender(t *testing.T) {
	c := newConsole(nil, &clientFlags{}, time.Second)
	now := time.Now()
	st := &agent.Status{Node: "n1", Site: "s", Cluster: "c", State: "operational", Ring: "r:4:n1", RingSince: now.Add(-time.Minute),
		Members: []agent.MemberStatus{{ID: "n1", InRing: true, Self: true}, {ID: "n2"}}, Missing: []string{"n2"}}
	st.TokenRotation.Count, st.TokenRotation.Sum = 10, 10*time.Millisecond
	c.prev = snapshot{at: now.Add(-time.Second), st: st, groups: &agent.GroupsReply{Groups: []agent.GroupInfo{{Name: "orders", Delivered: 10}}}}
	st2 := *st
	st2.TokenRotation.Count, st2.TokenRotation.Sum = 20, 30*time.Millisecond
	st2.Counters.MessagesDelivered = 50
	c.cur = snapshot{at: now, st: &st2, groups: &agent.GroupsReply{Groups: []agent.GroupInfo{{Name: "orders", ViewID: "v1", Members: []string{"n1:a"}, LocalMembers: 1, Delivered: 30}}},
		fed: &agent.FederationInfo{Domains: []agent.FederationDomain{{Name: "fed/g:a+b", Gateways: []string{"n1", "n2"}, Active: "n1", Running: true}},
			Rings: []gateway.Stats{{Domain: "fed/g:a+b", State: "operational", Ring: "f:1", Members: []string{"a", "b"}}}}}
	for i := range 30 {
		c.output = append(c.output, fmt.Sprintf("line %d %s", i, strings.Repeat("x", 100)))
	}
	c.keys(context.Background(), []byte("joim\x7fn orders"))
	screen := c.render(60, 20, now)
	lines := strings.Split(screen, "\r\n")
	if len(lines) != 20 {
		t.Fatalf("%d lines on a screen of 20:\n%s", len(lines), screen)
	}
	for i, l := range lines {
		l = strings.TrimPrefix(strings.TrimSuffix(l, "\x1b[K"), "\x1b[H")
		if n := utf8.RuneCountInString(l); n > 60 {
			t.Errorf("line %d has %d columns on a screen of 60: %q", i, n, l)
		}
	}
	for _, want := range []string{"fed/g:a+b  gateways n1 n2  active n1  ring f:1", "missing n2", "rotation 2ms", "delivered 50.0 msg/s", "orders                 1   1     20.0  v1", "line 29 xxxx", "> join orders\x1b[K"} {
		if !strings.Contains(screen, want) {
			t.Errorf("the screen lacks %q:\n%s", want, screen)
		}
	}
	if strings.Contains(screen, "line 20 ") {
		t.Errorf("the screen shows more output than fits:\n%s", screen)
	}
	// The arrows walk the history; Ctrl-U clears the line.
	c.history = []string{"send a b", "loglevel"}
	c.histAt = 2
	c.line = nil
	c.keys(context.Background(), []byte("\x1b[A\x1b[A"))
	if string(c.line) != "send a b" {
		t.Errorf("two ups: %q", string(c.line))
	}
	c.keys(context.Background(), []byte("\x15"))
	if len(c.line) != 0 {
		t.Errorf("Ctrl-U left %q", string(c.line))
	}
	c.keys(context.Background(), []byte{3})
	if !c.quit {
		t.Error("Ctrl-C does not quit")
	}
}

// TestConsoleNeedsTerminal: without a terminal the console says what to
// use instead.
func TestConsoleNeedsTerminal(t *testing.T) {
	code, _, errs := run("console", "--data-dir", t.TempDir())
	if code != exitUsage || !strings.Contains(errs, "must be a terminal") {
		t.Errorf("console without a terminal: exit %d %q", code, errs)
	}
}
