package pki_test

import (
	"crypto/x509"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/atoll-gcs/atoll/internal/pki"
	"github.com/atoll-gcs/atoll/topology"
)

var now = time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)

func loadExample(t *testing.T) *topology.File {
	t.Helper()
	f, err := topology.Load("../../deploy/examples/europe-asia.yaml")
	if err != nil {
		t.Fatal(err)
	}
	return f
}

func TestMakeWritesEveryGatewayAndRefusesOverwrite(t *testing.T) {
	f := loadExample(t)
	dir := filepath.Join(t.TempDir(), "certs")
	made, err := pki.Make(f, pki.Options{Dir: dir, Now: now})
	if err != nil {
		t.Fatal(err)
	}
	gws := pki.Gateways(f)
	if want := 1 + len(gws); len(made) != want || len(gws) != 8 {
		t.Fatalf("made %d pairs for %d gateways, want %d for 8", len(made), len(gws), want)
	}
	roots, err := pki.LoadRoots(filepath.Join(dir, pki.CACertFile))
	if err != nil {
		t.Fatal(err)
	}
	for _, g := range gws {
		for _, name := range []string{pki.KeyFile(g.Node), pki.CertFile(g.Node)} {
			st, err := os.Stat(filepath.Join(dir, name))
			if err != nil {
				t.Fatal(err)
			}
			if st.Mode().Perm() != 0o600 {
				t.Errorf("%s has mode %v, want 0600", name, st.Mode().Perm())
			}
		}
		c, err := pki.LoadCertificate(filepath.Join(dir, pki.CertFile(g.Node)), filepath.Join(dir, pki.KeyFile(g.Node)))
		if err != nil {
			t.Fatal(err)
		}
		id, err := pki.Verify([]*x509.Certificate{c.Leaf}, roots, now.Add(time.Hour))
		if err != nil || id != g.Identity {
			t.Errorf("%s: verified as %v, %v; want %v", g.Node, id, err, g.Identity)
		}
		if left := c.Leaf.NotAfter.Sub(now); left < pki.CertValidity-time.Hour || left > pki.CertValidity {
			t.Errorf("%s: valid for %v, want %v", g.Node, left, pki.CertValidity)
		}
	}
	// sin-1 has its own endpoint: its host is a SAN.
	c, _ := pki.LoadCertificate(filepath.Join(dir, "sin-1.crt"), filepath.Join(dir, "sin-1.key"))
	if len(c.Leaf.DNSNames) != 1 || c.Leaf.DNSNames[0] != "sin-1.gw.example.net" {
		t.Errorf("sin-1 DNS SANs %v", c.Leaf.DNSNames)
	}

	before, _ := os.ReadFile(filepath.Join(dir, pki.CAKeyFile))
	_, err = pki.Make(f, pki.Options{Dir: dir, Now: now})
	if !errors.Is(err, fs.ErrExist) || !strings.Contains(err.Error(), "ca.key") {
		t.Fatalf("second Make: %v, want a refusal naming ca.key", err)
	}
	after, _ := os.ReadFile(filepath.Join(dir, pki.CAKeyFile))
	if string(before) != string(after) {
		t.Fatal("a refused Make changed the CA key")
	}

	// One more certificate for one node, from the CA in dir.
	if _, err := pki.Make(f, pki.Options{Dir: dir, Now: now, Nodes: []string{"par-2"}}); !errors.Is(err, fs.ErrExist) {
		t.Fatalf("reissue without force: %v", err)
	}
	if _, err := pki.Make(f, pki.Options{Dir: dir, Now: now, Nodes: []string{"par-3"}}); err == nil || !strings.Contains(err.Error(), "not a gateway-eligible node") {
		t.Fatalf("issue for a non-gateway: %v", err)
	}
	made, err = pki.Make(f, pki.Options{Dir: dir, Now: now, Nodes: []string{"par-2"}, Force: true, CertValidity: 10 * 24 * time.Hour})
	if err != nil || len(made) != 1 {
		t.Fatalf("reissue par-2: %v %v", made, err)
	}
	after, _ = os.ReadFile(filepath.Join(dir, pki.CAKeyFile))
	if string(before) != string(after) {
		t.Fatal("reissuing a node changed the CA key")
	}
	w, err := pki.ExpiryWarning(made[0].CertPath, now)
	if err != nil || !strings.Contains(w, "par/par-2 expires on 2026-12-11") || !strings.Contains(w, "in 10 days") {
		t.Errorf("warning %q, %v", w, err)
	}
	if w, err := pki.ExpiryWarning(filepath.Join(dir, "par-1.crt"), now); err != nil || w != "" {
		t.Errorf("a fresh certificate warns %q, %v", w, err)
	}
	if w, _ := pki.ExpiryWarning(filepath.Join(dir, "par-1.crt"), now.Add(pki.CertValidity+time.Hour)); !strings.Contains(w, "EXPIRED") {
		t.Errorf("an expired certificate warns %q", w)
	}
	all, err := pki.Check(dir, now)
	if err != nil || len(all) != 9 {
		t.Fatalf("Check: %d, %v", len(all), err)
	}
}

func TestVerifyClassifies(t *testing.T) {
	ca, err := pki.MakeCA("c1", now, 0)
	if err != nil {
		t.Fatal(err)
	}
	other, _ := pki.MakeCA("c1", now, 0)
	roots := x509.NewCertPool()
	roots.AddCert(ca.Cert)
	id := pki.Identity{Cluster: "c1", Site: "a", Node: "a-1"}
	good, _, _ := ca.Issue(id, nil, now, time.Hour)
	foreign, _, _ := other.Issue(id, nil, now, time.Hour)
	expired, _, _ := ca.Issue(id, nil, now.Add(-2*time.Hour), time.Hour)
	for _, c := range []struct {
		name string
		cert *x509.Certificate
		want pki.Cause
	}{
		{"foreign CA", foreign, pki.CauseUnknownCA},
		{"expired", expired, pki.CauseExpired},
		{"CA as leaf", other.Cert, pki.CauseUnknownCA},
	} {
		_, err := pki.Verify([]*x509.Certificate{c.cert}, roots, now)
		if err == nil || pki.Classify(err) != c.want {
			t.Errorf("%s: %v classified %v, want %v", c.name, err, pki.Classify(err), c.want)
		}
	}
	if got, err := pki.Verify([]*x509.Certificate{good}, roots, now); err != nil || got != id {
		t.Errorf("good: %v %v", got, err)
	}
	// A CA-signed certificate without an identity.
	bare, _, _ := ca.Issue(id, nil, now, time.Hour)
	bare.URIs = nil
	if _, err := pki.IdentityOf(bare); !errors.Is(err, pki.ErrNoIdentity) || pki.Classify(err) != pki.CauseIdentity {
		t.Errorf("no identity: %v", err)
	}
	if err := (pki.Identity{Cluster: "c", Site: "a/b", Node: "n"}).Validate(); err == nil {
		t.Error("a site with a slash is valid")
	}
}
