package agent

import (
	"testing"

	"github.com/atoll-gcs/atoll/localring"
)

// TestConfigHashPerVisit: the presets' bound of packets per visit became
// half the window (100 with the LAN preset, 50 before), and the ring
// settings hash of a preset is still that of earlier versions (the values
// below are those of main 69fc327, before the change), so that a site's
// agents can be upgraded one at a time; a bound set to anything else still
// changes the hash, as before. Every value is pinned: the hash is on the
// wire, and a change to any of them breaks a rolling upgrade.
func TestConfigHashPerVisit(t *testing.T) {
	cfg := func(r localring.Config) *Config {
		return &Config{Site: "lab", Node: "n1", Nodes: []string{"n1", "n2", "n3"}, Ring: r}
	}
	lan, cloud := cfg(localring.DefaultLAN("")), cfg(localring.DefaultCloud(""))
	if lan.Ring.MaxPacketsPerVisit != 100 || cloud.Ring.MaxPacketsPerVisit != 50 {
		t.Fatalf("per visit: lan %d, cloud %d; want 100 and 50", lan.Ring.MaxPacketsPerVisit, cloud.Ring.MaxPacketsPerVisit)
	}
	if got := hex64(lan.configHash()); got != "a14f1cd4081ea1b5" {
		t.Errorf("LAN preset hashes as %s, earlier versions as a14f1cd4081ea1b5", got)
	}
	if got := hex64(cloud.configHash()); got != "161a4d3adc556aeb" {
		t.Errorf("cloud preset hashes as %s, earlier versions as 161a4d3adc556aeb", got)
	}
	old := localring.DefaultLAN("")
	old.MaxPacketsPerVisit = 50
	if cfg(old).configHash() != lan.configHash() {
		t.Error("the LAN preset with the earlier bound of 50 hashes apart from the preset")
	}
	// A bound other than the default hashes as it did at 69fc327, and so
	// do settings left at zero; a bound set to half a window that is not
	// the presets' hashes as 50 did at 69fc327 (window 300: 150 as 50).
	lan70, cloud25, half300 := localring.DefaultLAN(""), localring.DefaultCloud(""), localring.DefaultLAN("")
	lan70.MaxPacketsPerVisit, cloud25.MaxPacketsPerVisit = 70, 25
	half300.WindowPackets, half300.MaxPacketsPerVisit = 300, 150
	for _, tc := range []struct {
		what string
		r    localring.Config
		want string
	}{
		{"the LAN preset with a bound of 70", lan70, "6559558f957ca954"},
		{"the cloud preset with a bound of 25", cloud25, "9c69a0cc00fde8dc"},
		{"settings left at zero", localring.Config{}, "4203b13c9dca9928"},
		{"a window of 300 with a bound of 150", half300, "6631bdf6e84ff7d3"},
	} {
		if got := hex64(cfg(tc.r).configHash()); got != tc.want {
			t.Errorf("%s hashes as %s, want %s", tc.what, got, tc.want)
		}
	}
}
