package main

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/atoll-gcs/atoll/internal/waittest"
	"github.com/atoll-gcs/atoll/localring/seal"
)

// TestDoctorProbeNamespaces runs `atoll doctor --probe` on two nodes of a
// multicast site at once, each in a network namespace of its own joined
// by a veth pair: healthy, they hear each other with full-size packets;
// then one node's nftables drops the ring's port, its link gets a smaller
// MTU, and it gets another key, and doctor says so on the right node.
// Under the race detector it runs the healthy probe only.
func TestDoctorProbeNamespaces(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to make network namespaces")
	}
	for _, tool := range []string{"ip", "nft"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("needs %s (Debian packages iproute2, nftables)", tool)
		}
	}
	var rnd [3]byte
	rand.Read(rnd[:])
	name := "atdoc" + hex.EncodeToString(rnd[:])
	ns := [2]string{name + "-1", name + "-2"}
	sh := func(args ...string) {
		t.Helper()
		if out, err := exec.Command(args[0], args[1:]...).CombinedOutput(); err != nil {
			t.Fatalf("%s: %v: %s", strings.Join(args, " "), err, out)
		}
	}
	t.Cleanup(func() {
		for _, n := range ns {
			exec.Command("ip", "netns", "del", n).Run()
		}
	})
	for _, n := range ns {
		sh("ip", "netns", "add", n)
		sh("ip", "-n", n, "link", "set", "lo", "up")
	}
	sh("ip", "link", "add", "eth1", "netns", ns[0], "type", "veth", "peer", "name", "eth1", "netns", ns[1])
	for i, n := range ns {
		sh("ip", "-n", n, "addr", "add", fmt.Sprintf("10.77.0.%d/24", i+1), "dev", "eth1")
		sh("ip", "-n", n, "link", "set", "eth1", "up")
	}

	dir := t.TempDir()
	key := filepath.Join(dir, "atoll.key")
	if err := seal.WriteKeyFile(key, seal.GenerateKey(), false); err != nil {
		t.Fatal(err)
	}
	otherKey := filepath.Join(dir, "other.key")
	k2 := seal.GenerateKey()
	if err := seal.WriteKeyFile(otherKey, k2, false); err != nil {
		t.Fatal(err)
	}
	topo := filepath.Join(dir, "t.yaml")
	writeFile(t, topo, fmt.Sprintf(`version: 1
cluster: c
security: {key_file: %s}
sites:
  - name: s
    bind: '{{ GetAllInterfaces | include "network" "10.77.0.0/24" | attr "address" }}'
    multicast: 239.192.77.1
    nodes: [{id: n1}, {id: n2}]
`, key))

	// probe runs doctor --probe on both nodes at once; extra[i] are node
	// i's extra flags.
	probe := func(extra [2][]string) [2]string {
		t.Helper()
		var outs [2]string
		var wg sync.WaitGroup
		for i, n := range ns {
			wg.Go(func() {
				args := append([]string{"netns", "exec", n, os.Args[0], "doctor", "--config", topo, "--node", fmt.Sprintf("n%d", i+1),
					"--data-dir", filepath.Join(dir, n), "--probe", "3s"}, extra[i]...)
				cmd := exec.Command("ip", args...)
				cmd.Env = append(os.Environ(), "ATOLL_TEST_MAIN=1")
				out, _ := cmd.CombinedOutput()
				outs[i] = string(out)
			})
		}
		waittest.Group(t, &wg, 60*time.Second, "both doctor --probe 3s runs to return")
		return outs
	}
	has := func(what, out string, wants ...string) {
		t.Helper()
		for _, w := range wants {
			if !strings.Contains(out, w) {
				t.Errorf("%s: doctor lacks %q:\n%s", what, w, out)
			}
		}
	}

	outs := probe([2][]string{})
	has("healthy n1", outs[0], "ok    probe        heard n2 (10.77.0.2:5405) over multicast 239.192.77.1:5405, full-size packets (1472 bytes) included",
		"ok    firewall     no rule of the input or output hooks drops UDP port 5405")
	has("healthy n2", outs[1], "ok    probe        heard n1 (10.77.0.1:5405) over multicast 239.192.77.1:5405, full-size packets (1472 bytes) included")
	if raceEnabled {
		// Each probe takes its 3 s; the faults below run the same probe
		// code again, and the plain run has them.
		t.Log("the firewall, MTU and key faults run without the race detector")
		return
	}

	// n2's firewall drops the ring's port: n2 hears nothing, n1 still
	// hears n2.
	sh("ip", "netns", "exec", ns[1], "nft", "add table inet t; add chain inet t input { type filter hook input priority 0; policy accept; }; add rule inet t input udp dport 5405 drop")
	outs = probe([2][]string{})
	has("n2 behind a firewall", outs[1], `FAIL  firewall     nftables chain inet t input drops UDP 5405, the ring's port: "udp dport 5405 drop"`,
		"FAIL  probe        did not hear n1 in 3s over multicast 239.192.77.1:5405")
	has("n1 beside a firewall", outs[0], "ok    probe        heard n2")
	t.Logf("atoll doctor --probe on a node whose firewall drops the ring's port:\n%s", outs[1])
	sh("ip", "netns", "exec", ns[1], "nft", "delete table inet t")

	// A smaller MTU on n2's link: n1's full-size packets do not reach it.
	sh("ip", "-n", ns[1], "link", "set", "eth1", "mtu", "1280")
	outs = probe([2][]string{})
	has("n2 with a smaller MTU", outs[1], "FAIL  probe        heard n1 (10.77.0.1:5405), but none of its full-size packets: the path between drops packets this large",
		"ok    mtu          eth1 (10.77.0.2) has MTU 1280")
	has("n1 beside a smaller MTU", outs[0], "ok    probe        heard n2 (10.77.0.2:5405) over multicast 239.192.77.1:5405, full-size packets (1252 bytes) included")
	t.Logf("atoll doctor --probe on a node whose link has a smaller MTU:\n%s", outs[1])
	sh("ip", "-n", ns[1], "link", "set", "eth1", "mtu", "1500")

	// n2 has another key.
	outs = probe([2][]string{nil, {"--key", otherKey}})
	has("n1 beside another key", outs[0], fmt.Sprintf("FAIL  probe        n2 (10.77.0.2:5405) has cluster key id %08x", k2.ID()))
}
