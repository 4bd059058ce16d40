package topology

import (
	"bytes"
	"os"
	"testing"
)

func TestConfigHash(t *testing.T) {
	data, err := os.ReadFile("../deploy/examples/europe-asia.yaml")
	if err != nil {
		t.Fatal(err)
	}
	fed := func(data []byte) (*Plan, []*Domain) {
		t.Helper()
		f, err := Parse("europe-asia.yaml", data)
		if err != nil {
			t.Fatal(err)
		}
		p := f.Plan()
		ds := p.FederationDomains()
		if len(ds) == 0 {
			t.Fatal("no federation domain in the example")
		}
		return p, ds
	}
	p, ds := fed(data)
	p2, ds2 := fed(data)
	seen := map[uint64]string{}
	for i, d := range ds {
		h := p.ConfigHash(d)
		if h2 := p2.ConfigHash(ds2[i]); h2 != h {
			t.Errorf("%s: the same file hashes to %016x and %016x", d.Name, h, h2)
		}
		if other, dup := seen[h]; dup {
			t.Errorf("domains %s and %s hash alike", other, d.Name)
		}
		seen[h] = d.Name
	}
	for _, c := range []struct{ what, from, to string }{
		{"a slower link (timeouts)", "rtt: 158ms", "rtt: 190ms"},
		{"another gateway order", "gateways: [fra-1, fra-2]", "gateways: [fra-2, fra-1]"},
		{"another cluster", "cluster: europe-asia", "cluster: europe-asia2"},
	} {
		changed := bytes.Replace(data, []byte(c.from), []byte(c.to), 1)
		if bytes.Equal(changed, data) {
			t.Fatalf("%s: %q not in the example", c.what, c.from)
		}
		q, es := fed(changed)
		same := 0
		for _, e := range es {
			if _, ok := seen[q.ConfigHash(e)]; ok {
				same++
			}
		}
		if same == len(es) {
			t.Errorf("%s leaves every federation domain's hash unchanged", c.what)
		}
	}
}
