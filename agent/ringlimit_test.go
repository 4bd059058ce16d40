package agent

import (
	"strings"
	"testing"

	"github.com/atoll-gcs/atoll/localring"
	"github.com/atoll-gcs/atoll/localring/seal"
	"github.com/atoll-gcs/atoll/topology"
)

// TestRingLimitOfFederationDomain: a node whose site takes part in a
// federation domain is refused at start with a Ring.MaxMessageBytes below
// the ring's largest: the other sites accept messages to the domain's
// groups up to that, and its site's gateway could not bring them down
// through its local ring (the site's stream of the domain would stop
// there). The error names the node, the site, the setting and the domain.
// The default (0) and the largest pass, and so does a smaller limit at a
// site in no federation domain.
func TestRingLimitOfFederationDomain(t *testing.T) {
	f, err := topology.Parse("fp.yaml", []byte(fpYAML))
	if err != nil {
		t.Fatal(err)
	}
	cfg := func(node string, limit int, fed bool) Config {
		t.Helper()
		c, err := FromTopology(f, node, PresetLAN)
		if err != nil {
			t.Fatal(err)
		}
		c.DataDir, c.Security.Key, c.Ring.MaxMessageBytes = t.TempDir(), seal.GenerateKey(), limit
		c.setDefaults()
		if fed {
			c.Federation = &Federation{File: f, Plan: f.Plan()}
		}
		return c
	}
	c := cfg("b-1", 64<<10, true)
	err = c.Validate()
	if err == nil {
		t.Fatal("b-1 with Ring.MaxMessageBytes 65536 in a federation domain: no error")
	}
	for _, want := range []string{`node "b-1" of site "b"`, "Ring.MaxMessageBytes 65536", "federation domain fed/", "leave Ring.MaxMessageBytes 0"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q lacks %q", err, want)
		}
	}
	for _, tc := range []struct {
		limit int
		fed   bool
	}{{0, true}, {localring.MaxMessageBytes, true}, {64 << 10, false}} {
		c := cfg("a-1", tc.limit, tc.fed)
		if err := c.Validate(); err != nil {
			t.Errorf("a-1 with Ring.MaxMessageBytes %d (federation plan %v): %v", tc.limit, tc.fed, err)
		}
	}
}
