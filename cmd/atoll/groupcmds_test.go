package main

import (
	"bytes"
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/atoll-gcs/atoll/agent"
	"github.com/atoll-gcs/atoll/internal/waittest"
)

// run runs the atoll command line and returns its exit status and output.
func run(args ...string) (int, string, string) {
	var out, errb bytes.Buffer
	code := Run(args, &out, &errb)
	return code, out.String(), errb.String()
}

// background runs a command in a goroutine; wait returns its result. A
// command that has not returned within 30 s of the wait fails the test (a
// member waiting for views or messages that never come).
func background(t *testing.T, args ...string) (wait func() (int, string, string)) {
	var code int
	var out, errb string
	done := make(chan struct{})
	go func() {
		defer close(done)
		code, out, errb = run(args...)
	}()
	return func() (int, string, string) {
		t.Helper()
		waittest.Recv(t, done, 30*time.Second, "atoll "+strings.Join(args, " ")+" to return")
		return code, out, errb
	}
}

// waitMembers waits until `members --group` lists want.
func waitMembers(t *testing.T, dataDir, group string, want ...string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		code, out, _ := run("members", "--group", group, "--data-dir", dataDir, "-o", "json")
		var v struct{ Members []string }
		if code == 0 && json.Unmarshal([]byte(out), &v) == nil && slices.Equal(v.Members, want) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("members of %s: %v, want %v (exit %d)", group, v.Members, want, code)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestJoinSendRecv(t *testing.T) {
	dirs := startAgents(t, 2, 2)

	// A member that prints its views as JSON and stops after two.
	join := background(t, "join", "chat", "--name", "j", "--count", "2", "-o", "json", "--data-dir", dirs[0])
	waitMembers(t, dirs[0], "chat", "n1:j")
	waitMembers(t, dirs[1], "chat", "n1:j") // the view reaches n2 a moment later

	code, out, errs := run("groups", "-o", "json", "--data-dir", dirs[1])
	var gs []struct {
		Group   string `json:"group"`
		Members int    `json:"members"`
		ViewID  string `json:"view_id"`
	}
	if code != 0 || json.Unmarshal([]byte(out), &gs) != nil || len(gs) != 1 || gs[0].Group != "chat" || gs[0].Members != 1 || gs[0].ViewID == "" {
		t.Errorf("groups -o json: exit %d %q %s", code, out, errs)
	}
	code, out, _ = run("groups", "--data-dir", dirs[1])
	if code != 0 || !strings.Contains(out, "GROUP") || !strings.Contains(out, "chat") {
		t.Errorf("groups: exit %d\n%s", code, out)
	}

	// A receiver on the other agent: the member's second view.
	recv := background(t, "recv", "chat", "--name", "r", "--count", "3", "--data-dir", dirs[1])
	code, out, errs = join() // it saw r join, and left
	waitMembers(t, dirs[1], "chat", "n2:r")
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if code != 0 || len(lines) != 2 {
		t.Fatalf("join: exit %d, %d lines:\n%s%s", code, len(lines), out, errs)
	}
	var v struct {
		Event   string   `json:"event"`
		Group   string   `json:"group"`
		Members []string `json:"members"`
		Joined  []string `json:"joined"`
		Reason  string   `json:"reason"`
	}
	if err := json.Unmarshal([]byte(lines[1]), &v); err != nil || v.Event != "view" || v.Group != "chat" || !slices.Equal(v.Members, []string{"n1:j", "n2:r"}) || v.Reason != "join" || !slices.Equal(v.Joined, []string{"n2:r"}) {
		t.Errorf("join's second view: %s (%v)", lines[1], err)
	}
	code, out, _ = run("members", "--group", "chat", "--data-dir", dirs[0])
	if code != 0 || !strings.Contains(out, "1  n2:r (leader)  n2    r") {
		t.Errorf("members --group (the first member left): exit %d\n%s", code, out)
	}

	// Messages: a multicast, one to two groups, and a point-to-point one.
	for _, args := range [][]string{
		{"send", "chat", "hello", "--svc", "safe", "--type", "7"},
		{"send", "chat,other", "to both"},
		{"send", "--to", "n2:r", "just you", "--svc", "fifo"},
	} {
		if code, out, errs := run(append(args, "--data-dir", dirs[0])...); code != 0 {
			t.Fatalf("%v: exit %d %s%s", args, code, out, errs)
		}
	}
	code, out, errs = recv()
	if code != 0 || out != "hello\nto both\njust you\n" {
		t.Errorf("recv: exit %d, output %q %s", code, out, errs)
	}
}

func TestClientCommandErrors(t *testing.T) {
	dirs := startAgents(t, 1, 1)
	for _, tc := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"send", "bad name", "x"}, 1, "bad_name"},
		{[]string{"send", "chat", "x", "--svc", "fast"}, 1, "unknown service level"},
		{[]string{"send", "--to", "nocolon", "x"}, 1, "want node:client"},
		{[]string{"send", "--to", "n1:nobody", "x"}, 1, "n1:nobody is a member of no group"},
		{[]string{"members", "--group", "nobody"}, 1, `group "nobody" has no members at agent n1`},
		{[]string{"join", "g", "--name", "atoll"}, 1, "reserved"},
		{[]string{"groups", "-o", "yaml"}, exitUsage, "use table or json"},
		{[]string{"send", "chat", "x", "--data-dir", "/nonexistent"}, 3, "is the agent running"},
		{[]string{"groups", "--socket", "/nonexistent/client.sock"}, 3, "cannot reach the agent"},
	} {
		args := tc.args
		if !slices.Contains(args, "--data-dir") && !slices.Contains(args, "--socket") {
			args = append(args, "--data-dir", dirs[0])
		}
		code, out, errs := run(args...)
		if code != tc.code || !strings.Contains(errs, tc.want) {
			t.Errorf("%v: exit %d, %q%q; want exit %d with %q", tc.args, code, out, errs, tc.code, tc.want)
		}
	}
	// An empty list is still JSON.
	if code, out, _ := run("groups", "-o", "json", "--data-dir", dirs[0]); code != 0 || strings.TrimSpace(out) != "[]" {
		t.Errorf("groups -o json without groups: exit %d %q", code, out)
	}
}

func TestClientListenFlags(t *testing.T) {
	for _, tc := range []struct {
		f    clientListenFlags
		want string
	}{
		{clientListenFlags{listen: ":7405"}, "needs --client-cert and --client-key"},
		{clientListenFlags{cert: "c.pem"}, "need --client-listen"},
		{clientListenFlags{listen: ":7405", cert: "/nonexistent.pem", key: "/nonexistent.key"}, "--client-cert /nonexistent.pem"},
	} {
		var cfg agent.Config
		if err := tc.f.apply(&cfg); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%+v: %v, want %q", tc.f, err, tc.want)
		}
	}
	var cfg agent.Config
	if err := (&clientListenFlags{socket: "-"}).apply(&cfg); err != nil || cfg.ClientSocket != "-" {
		t.Errorf("--client-socket -: %v %q", err, cfg.ClientSocket)
	}
}
