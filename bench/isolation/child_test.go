package isolation

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/atoll-gcs/atoll/internal/sites"
	"github.com/atoll-gcs/atoll/internal/waittest"
)

// smallYAML is a world of one site of one node: enough for a site's
// process to start.
const smallYAML = `version: 1
cluster: small
sites:
  - name: a
    unicast: ["10.1.0.1:5405"]
    nodes: [{id: a-1}]
`

func smallSpec(t *testing.T) sites.Spec {
	t.Helper()
	w := sites.NewForTest(t, sites.Config{Topology: []byte(smallYAML)})
	return w.Spec()
}

// answers decodes every answer in b, by id.
func answers(t *testing.T, b []byte) map[uint64]answer {
	t.Helper()
	out := map[uint64]answer{}
	if err := readAnswers(bytes.NewReader(b), func(a answer) { out[a.ID] = a }); err != nil {
		t.Fatalf("the process's answers: %v\n%s", err, b)
	}
	return out
}

func lines(t *testing.T, qs ...any) string {
	t.Helper()
	var b strings.Builder
	for _, q := range qs {
		if s, ok := q.(string); ok {
			b.WriteString(s + "\n")
			continue
		}
		j, err := json.Marshal(q)
		if err != nil {
			t.Fatal(err)
		}
		b.Write(append(j, '\n'))
	}
	return b.String()
}

// TestServeRefusesBadInput: a site's process refuses a first request
// that is not a start, answers a request it does not know or that lacks
// its part with an error (and goes on), and ends with an error at a line
// that is not a request, or when its input ends before a stop.
func TestServeRefusesBadInput(t *testing.T) {
	ctx := context.Background()
	var out bytes.Buffer
	err := serve(ctx, strings.NewReader("not json\n"), &out, io.Discard)
	if err == nil || !strings.Contains(err.Error(), "first request") {
		t.Errorf("a first line that is not JSON: %v", err)
	}
	out.Reset()
	err = serve(ctx, strings.NewReader(lines(t, request{ID: 1, Op: opSync})), &out, io.Discard)
	if err == nil || !strings.Contains(err.Error(), `must be "start"`) {
		t.Errorf("a first request that is not a start: %v", err)
	}
	if a := answers(t, out.Bytes()); a[1].Err == "" {
		t.Errorf("a first request that is not a start was not answered with an error: %+v", a)
	}

	spec := smallSpec(t)
	out.Reset()
	in := lines(t, request{ID: 1, Op: opStart, Spec: &spec, Sites: []string{"a"}},
		request{ID: 2, Op: "bogus"}, request{ID: 3, Op: opPhase}, request{ID: 4, Op: opStatus},
		`{"id": 5, "op": "sync"`)
	err = serve(ctx, strings.NewReader(in), &out, io.Discard)
	if err == nil || !strings.Contains(err.Error(), "not one") {
		t.Errorf("a truncated request: %v", err)
	}
	a := answers(t, out.Bytes())
	if a[1].Err != "" {
		t.Errorf("start: %s", a[1].Err)
	}
	if !strings.Contains(a[2].Err, `unknown request "bogus"`) {
		t.Errorf("an unknown request was answered %+v", a[2])
	}
	if !strings.Contains(a[3].Err, "without its phase") {
		t.Errorf("a phase without its phase was answered %+v", a[3])
	}
	if a[4].Err != "" || len(a[4].Nodes) != 1 {
		t.Errorf("status after bad requests: %+v, want a-1's", a[4])
	}

	out.Reset()
	err = serve(ctx, strings.NewReader(lines(t, request{ID: 1, Op: opStart, Spec: &spec, Sites: []string{"a"}})), &out, io.Discard)
	if err == nil || !strings.Contains(err.Error(), "closed the control channel") {
		t.Errorf("input that ends before a stop: %v", err)
	}
	out.Reset()
	err = serve(ctx, strings.NewReader(lines(t, request{ID: 1, Op: opStart, Spec: &spec, Sites: []string{"a"}}, request{ID: 2, Op: opStop})), &out, io.Discard)
	if err != nil {
		t.Errorf("start, stop: %v", err)
	}
	if a := answers(t, out.Bytes()); a[2].ID != 2 || a[2].Err != "" {
		t.Errorf("stop was answered %+v", a[2])
	}
}

// TestReadAnswersRefusesBadInput: the coordinator stops reading a site's
// process at a line that is not an answer.
func TestReadAnswersRefusesBadInput(t *testing.T) {
	n := 0
	err := readAnswers(strings.NewReader(`{"id": 1}`+"\n"+`{"id": "two"}`+"\n"), func(answer) { n++ })
	if err == nil || n != 1 {
		t.Errorf("read %d answers, error %v; want 1 and an error at the second", n, err)
	}
}

// TestChildProcess: the coordinator starts a site's process (this test
// binary again, TestMain), talks to it, stops it; a process that fails
// ends the run with an error naming its site.
func TestChildProcess(t *testing.T) {
	spec := smallSpec(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var mu sync.Mutex
	var failed []error
	fail := func(err error) { mu.Lock(); failed = append(failed, err); mu.Unlock() }

	c, err := startChild(ctx, "a", io.Discard, fail, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.kill()
	if _, err := c.call(ctx, request{Op: opStart, Spec: &spec, Sites: []string{"a"}}); err != nil {
		t.Fatal(err)
	}
	a, err := c.call(ctx, request{Op: opStatus})
	if err != nil || len(a.Nodes) != 1 {
		t.Fatalf("status: %+v, %v; want a-1's", a, err)
	}
	if _, err := c.stop(ctx); err != nil {
		t.Fatalf("stop: %v", err)
	}
	if _, err := c.call(ctx, request{Op: opStatus}); err == nil {
		t.Error("a call after the stop did not fail")
	}
	mu.Lock()
	if len(failed) > 0 {
		t.Errorf("a process that was told to stop counts as failed: %v", failed)
	}
	mu.Unlock()

	c, err = startChild(ctx, "x", io.Discard, fail, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.kill()
	if _, err := c.call(ctx, request{Op: opStart, Spec: &spec, Sites: []string{"x"}}); err == nil || !strings.Contains(err.Error(), "site x's process") {
		t.Errorf("a start of a site the world lacks: %v", err)
	}
	waittest.Recv(t, c.done, 10*time.Second, "the child process to end after a start of a site it lacks")
	mu.Lock()
	defer mu.Unlock()
	if len(failed) != 1 || !strings.Contains(failed[0].Error(), "site x's process ended during the run") {
		t.Errorf("the failed process was reported %v, want one error naming site x", failed)
	}
	if _, err := c.call(ctx, request{Op: opStatus}); err == nil || !strings.Contains(err.Error(), "site x") {
		t.Errorf("a call to the failed process: %v", err)
	}
}
