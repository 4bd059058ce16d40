package sites_test

import (
	"context"
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/atoll-gcs/atoll/agent"
	"github.com/atoll-gcs/atoll/internal/sites"
)

// TestSpecSplitsWorld: a world split by site (Config.From, as the
// isolation benchmark's processes run it) is one world: the spec survives
// JSON (it crosses a pipe), each part runs only its sites' nodes, the
// federation rings form across the parts through the first world's mesh,
// a group spans them, a cut on that mesh separates the parts, and the
// first world's Check reads every part's traces, counting the processes
// another part killed as failed (MarkFailed).
func TestSpecSplitsWorld(t *testing.T) {
	sites.SkipUnlessRealTime(t, "runs eight agents and two federation rings over the WAN emulator")
	w := sites.NewForTest(t, sites.Config{Topology: []byte(worldYAML)})
	spec := specOverPipe(t, w)
	parts := map[string]*sites.World{}
	for _, s := range []string{"a", "b", "c"} {
		p := sites.NewForTest(t, sites.Config{From: &spec})
		if p.Mesh() != nil {
			t.Fatal("a world from a spec started a WAN mesh of its own")
		}
		for _, id := range p.SiteNodes(s) {
			if err := p.Start(id); err != nil {
				t.Fatal(err)
			}
		}
		parts[s] = p
	}
	if got := parts["b"].Running(); !slices.Equal(got, w.SiteNodes("b")) {
		t.Fatalf("site b's part runs %v, want %v", got, w.SiteNodes("b"))
	}
	status := func() map[string][]agent.DomainStatus {
		out := map[string][]agent.DomainStatus{}
		for _, p := range parts {
			for _, id := range p.Running() {
				out[id] = p.Node(id).Agent().Status().Domains
			}
		}
		return out
	}
	wait := func(domain string, ids []string) {
		t.Helper()
		deadline := time.Now().Add(60 * time.Second)
		for {
			ok, last := sites.OneConfiguration(domain, ids, status())
			if ok {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s did not form across the parts: %s", domain, last)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	for _, d := range w.Plan().FederationDomains() {
		var ids []string
		for _, s := range d.Sites {
			ids = append(ids, w.SiteNodes(s)...)
		}
		wait(d.Name, ids)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	for s, p := range parts {
		if err := p.Join(ctx, "abc-global", p.SiteNodes(s)...); err != nil {
			t.Fatal(err)
		}
	}
	// One view of all eight clients, at every part.
	var want []string
	for _, id := range w.Nodes() {
		want = append(want, w.Member(id))
	}
	deadline := time.Now().Add(30 * time.Second)
	for s, p := range parts {
		for _, id := range p.SiteNodes(s) {
			for {
				v, _ := p.Node(id).LastView("abc-global")
				if slices.Equal(slices.Sorted(slices.Values(v.Members)), want) {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("%s's client has view %v of abc-global, want %v", id, v.Members, want)
				}
				time.Sleep(20 * time.Millisecond)
			}
		}
	}
	// The cut is on the first world's mesh: a's and b's parts go on
	// without c.
	if err := w.Isolate("c"); err != nil {
		t.Fatal(err)
	}
	wait("fed/global:a+b+c", append(w.SiteNodes("a"), w.SiteNodes("b")...))
	if err := w.Rejoin("c"); err != nil {
		t.Fatal(err)
	}
	wait("fed/global:a+b+c", w.Nodes())
	if err := parts["b"].Kill("b-3"); err != nil {
		t.Fatal(err)
	}
	for _, p := range parts {
		if err := p.StopAll(); err != nil {
			t.Fatal(err)
		}
		w.MarkFailed(p.Failed()...)
	}
	if f := parts["b"].Failed(); len(f) != 1 || f[0].Node != "b-3" {
		t.Fatalf("site b's part counts %v as failed, want b-3's process", f)
	}
	res, err := w.Check()
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range res.Violations {
		t.Error(v)
	}
	if res.Events == 0 || res.ByDomain["fed/global:a+b+c"] == 0 {
		t.Fatalf("the check read %d events (%v): not the parts' traces", res.Events, res.ByDomain)
	}
}

// TestNoTrace: a world whose agents write no trace (Config.NoTrace) hands
// that to the processes that run its parts (the spec crosses a pipe as
// JSON), and its Check refuses, saying why, instead of reporting an empty
// check as a pass.
func TestNoTrace(t *testing.T) {
	w, err := sites.New(sites.Config{Topology: []byte(worldYAML), NoTrace: true})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	if spec := specOverPipe(t, w); !spec.NoTrace {
		t.Error("the spec lost NoTrace")
	}
	if _, err := w.Check(); err == nil || !strings.Contains(err.Error(), "no trace") {
		t.Errorf("Check of an untraced world: %v, want a refusal", err)
	}
}

// specOverPipe returns w's spec as another process reads it: through
// JSON, as it crosses the isolation benchmark's pipe.
func specOverPipe(t *testing.T, w *sites.World) sites.Spec {
	t.Helper()
	b, err := json.Marshal(w.Spec())
	if err != nil {
		t.Fatal(err)
	}
	var spec sites.Spec
	if err := json.Unmarshal(b, &spec); err != nil {
		t.Fatal(err)
	}
	return spec
}
