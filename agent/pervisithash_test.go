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
// changes the hash, as before.
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
	other := localring.DefaultLAN("")
	other.MaxPacketsPerVisit = 70
	if cfg(other).configHash() == lan.configHash() {
		t.Error("a bound of 70 hashes as the preset's")
	}
	if cfg(localring.Config{}).configHash() == lan.configHash() {
		t.Error("settings left at zero hash as the LAN preset's")
	}
}
