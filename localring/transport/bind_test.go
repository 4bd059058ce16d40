package transport_test

import (
	"errors"
	"net"
	"net/netip"
	"strings"
	"testing"

	"github.com/atoll-gcs/atoll/localring/transport"
)

func TestResolveBind(t *testing.T) {
	for _, tmpl := range []string{
		"127.0.0.1",
		" 127.0.0.1\n",
		`{{ GetAllInterfaces | include "name" "lo" | include "type" "IPv4" | attr "address" }}`,
		`{{ GetAllInterfaces | include "network" "127.0.0.0/8" | attr "address" }}`,
	} {
		got, err := transport.ResolveBind(tmpl)
		if err != nil || got != netip.MustParseAddr("127.0.0.1") {
			t.Errorf("ResolveBind(%q) = %v, %v; want 127.0.0.1", tmpl, got, err)
		}
	}
}

func TestResolveBindNoMatch(t *testing.T) {
	tmpl := `{{ GetAllInterfaces | include "network" "203.0.113.0/24" | attr "address" }}`
	_, err := transport.ResolveBind(tmpl)
	var be *transport.BindError
	if !errors.As(err, &be) {
		t.Fatalf("ResolveBind = %v, want a *BindError", err)
	}
	if len(be.Matched) != 0 || len(be.Candidates) == 0 {
		t.Fatalf("BindError %+v, want no match and this host's candidates", be)
	}
	msg := err.Error()
	for _, want := range []string{"matches no address", "127.0.0.1 on lo", `include "network"`, tmpl} {
		if !strings.Contains(msg, want) {
			t.Errorf("error %q does not mention %q", msg, want)
		}
	}
}

func TestResolveBindSeveral(t *testing.T) {
	_, err := transport.ResolveBind("127.0.0.1 127.0.0.2")
	var be *transport.BindError
	if !errors.As(err, &be) || len(be.Matched) != 2 {
		t.Fatalf("ResolveBind = %v, want a *BindError with 2 matches", err)
	}
	if msg := err.Error(); !strings.Contains(msg, "matches 2 addresses") || !strings.Contains(msg, "127.0.0.1 on lo") || !strings.Contains(msg, "exactly one") {
		t.Errorf("error %q does not list the matches", msg)
	}

	// Plain go-sockaddr `attr` would silently take the first of several
	// addresses; ResolveBind sees all of them.
	lo, err := net.InterfaceByName("lo")
	if err != nil {
		t.Skip("no lo interface")
	}
	addrs, _ := lo.Addrs()
	tmpl := `{{ GetAllInterfaces | include "name" "lo" | attr "address" }}`
	got, err := transport.ResolveBind(tmpl)
	if len(addrs) > 1 {
		if !errors.As(err, &be) || len(be.Matched) != len(addrs) {
			t.Fatalf("ResolveBind(%q) with %d addresses on lo = %v, %v; want a *BindError listing all", tmpl, len(addrs), got, err)
		}
	} else if err != nil {
		t.Fatalf("ResolveBind(%q) with one address on lo: %v", tmpl, err)
	}
}

func TestResolveBindBadTemplate(t *testing.T) {
	tests := []struct{ tmpl, want string }{
		{"{{ GetAllInterfaces", "does not parse"},
		{"{{ NoSuchFunc }}", "does not parse"},
		{"eth0", "not an IP address"},
		{`{{ GetAllInterfaces | include "name" "lo" | include "type" "IPv4" }}`, "not an IP address"},
	}
	for _, tt := range tests {
		_, err := transport.ResolveBind(tt.tmpl)
		var be *transport.BindError
		if err == nil || errors.As(err, &be) || !strings.Contains(err.Error(), tt.want) || !strings.HasPrefix(err.Error(), "transport: ") {
			t.Errorf("ResolveBind(%q) = %v, want an error mentioning %q", tt.tmpl, err, tt.want)
		}
	}
}
