package topology

import (
	"net"
	"net/netip"
	"strings"
	"testing"

	sockaddr "github.com/hashicorp/go-sockaddr"
)

func TestCheckBind(t *testing.T) {
	good := []string{
		"10.1.2.3",
		"::1",
		"{{ GetPrivateIP }}",
		"{{ GetPublicIP }}",
		`{{ GetPrivateInterfaces | include "network" "10.1.0.0/16" | attr "address" }}`,
		`{{ GetAllInterfaces | include "name" "^eth" | sort "default,size" | limit 1 | attr "address" }}`,
		`{{ GetInterfaceIP "eth0" }}`,
		`{{ GetInterfaceIP "ens5" }}`, // no such interface on the sample host: empty, not an error
		`{{ GetDefaultInterfaces | include "type" "IPv4" | attr "address" }}`,
		`{{/* a comment */}}{{ GetPrivateIP }}`,
	}
	for _, tmpl := range good {
		if err := CheckBind(tmpl); err != nil {
			t.Errorf("CheckBind(%q) = %v", tmpl, err)
		}
	}
	bad := map[string]string{
		"":                 "empty",
		"10.1.2":           "neither an IP address nor a go-sockaddr template",
		"{{ GetPrivateIP ": "does not parse",
		"{{ GetPrivIP }}":  `function "GetPrivIP" not defined`,
		`{{ GetAllInterfaces | include "nmae" "x" | attr "address" }}`:                 `invalid include selector "nmae"`,
		`{{ GetAllInterfaces | include "name" "([" | attr "address" }}`:                "regexp",
		`{{ GetAllInterfaces | sort "speed" | attr "address" }}`:                       "unknown sort type",
		`{{ GetAllInterfaces | attr "name" }}`:                                         `yields "lo" on a sample host`,
		`{{ GetAllInterfaces }}`:                                                       "not an IP address",
		`{{ range 100000000 }}{{ end }}`:                                               "only pipelines",
		`{{ define "x" }}1.2.3.4{{ end }}{{ template "x" }}`:                           "may not define templates",
		`{{ if true }}1.2.3.4{{ end }}`:                                                "only pipelines",
		`{{ printf "%0999999d" 1 }}`:                                                   "output longer than",
		`{{ GetAllInterfaces | include "network" "example.com:80" | attr "address" }}`: `network "example.com:80" is not an IP address or CIDR prefix`,
		`{{ GetAllInterfaces | exclude "NETWORK" "10.0.0.0/8|x" | attr "address" }}`:   `network "x" is not`,
	}
	for tmpl, want := range bad {
		err := CheckBind(tmpl)
		if err == nil || !strings.Contains(err.Error(), want) || !strings.HasPrefix(err.Error(), "topology: ") {
			t.Errorf("CheckBind(%q) = %v, want an error containing %q", tmpl, err, want)
		}
	}
}

func testHost(t *testing.T) host {
	t.Helper()
	var ifs sockaddr.IfAddrs
	for _, a := range []struct{ name, cidr string }{{"lo", "127.0.0.1/8"}, {"eth0", "10.1.0.5/16"}, {"eth1", "10.2.0.5/16"}} {
		ip, err := sockaddr.NewIPAddr(a.cidr)
		if err != nil {
			t.Fatal(err)
		}
		flags := net.FlagUp | net.FlagMulticast
		if a.name == "lo" {
			flags = net.FlagUp | net.FlagLoopback
		}
		ifs = append(ifs, sockaddr.IfAddr{SockAddr: ip, Interface: net.Interface{Name: a.name, Flags: flags}})
	}
	return newHost(ifs, "eth0")
}

func TestResolveBind(t *testing.T) {
	h := testHost(t)
	one := map[string]string{
		"10.9.9.9":                    "10.9.9.9",
		"{{ GetPrivateIP }}":          "10.1.0.5", // the default interface's address comes first
		`{{ GetInterfaceIP "eth1" }}`: "10.2.0.5",
		`{{ GetPrivateInterfaces | include "network" "10.2.0.0/16" | attr "address" }}`: "10.2.0.5",
	}
	for tmpl, want := range one {
		got, err := resolveBind(tmpl, h)
		if err != nil || got != netip.MustParseAddr(want) {
			t.Errorf("resolveBind(%q) = %v, %v; want %s", tmpl, got, err, want)
		}
	}
	_, err := resolveBind(`{{ GetPrivateInterfaces | include "network" "10.3.0.0/16" | attr "address" }}`, h)
	if err == nil || !strings.Contains(err.Error(), "matches no address on this host; its addresses are eth0 10.1.0.5/16, eth1 10.2.0.5/16, lo 127.0.0.1/8") {
		t.Errorf("no match: %v", err)
	}
	_, err = resolveBind(`{{ GetPrivateIPs }}`, h)
	if err == nil || !strings.Contains(err.Error(), "matches 2 addresses on this host (10.1.0.5, 10.2.0.5); narrow it") {
		t.Errorf("two matches: %v", err)
	}
	_, err = resolveBind(`{{ GetAllInterfaces | attr "name" }}`, h)
	if err == nil || !strings.Contains(err.Error(), `yields "lo", which is not an IP address`) {
		t.Errorf("not an address: %v", err)
	}
}

// TestResolveBindHere runs the real thing: the loopback address is on every
// host the tests run on.
func TestResolveBindHere(t *testing.T) {
	got, err := ResolveBind(`{{ GetAllInterfaces | include "address" "^127\\.0\\.0\\.1$" | attr "address" }}`)
	if err != nil {
		t.Skipf("no IPv4 loopback here: %v", err)
	}
	if got != netip.MustParseAddr("127.0.0.1") {
		t.Errorf("ResolveBind = %v", got)
	}
}
