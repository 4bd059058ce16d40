package agent

import (
	"crypto/tls"
	"fmt"
	"strings"
	"time"

	"github.com/atoll-gcs/atoll/localring"
)

// Effective is the configuration an agent runs with, defaults filled in,
// as Status reports it (like corosync-cmapctl or consul info): what was
// asked for, from where, and where the agent listens.
type Effective struct {
	// Version is the agent binary's version (Config.Version).
	Version string `json:"version,omitempty"`
	// ConfigFile is the topology file the configuration came from
	// (Config.ConfigFile).
	ConfigFile string `json:"config_file,omitempty"`
	DataDir    string `json:"data_dir"`
	// Ring is the UDP address the ring's packets come from.
	Ring string `json:"ring"`
	// Admin is the admin API's address, empty without one.
	Admin string `json:"admin,omitempty"`
	// Clients are the client listeners' dial addresses.
	Clients []string `json:"clients,omitempty"`
	// Metrics is the URL of the metrics listener (Config.MetricsListen),
	// empty without one.
	Metrics string `json:"metrics,omitempty"`
	// API is the URL of the introspection API's HTTP listener
	// (Config.API.HTTPListen), empty without one.
	API string `json:"api,omitempty"`
	// ClientAuth says who may connect over TCP: "mutual TLS" (a client
	// certificate signed by --client-ca) or "anonymous TLS" (anyone who
	// reaches the port); empty without a TCP listener.
	ClientAuth string `json:"client_auth,omitempty"`
	// RingSettings are the ring protocol's effective timings and limits.
	RingSettings RingSettings `json:"ring_settings"`
}

// RingSettings are the effective ring timings and flow control. Every node
// of a ring must run the same: ConfigHash, which every packet carries,
// covers them and the site.
type RingSettings struct {
	// Preset is the preset they match: "lan", "cloud", "plan" (the
	// planner's timers for the site, FromTopology's default) or "custom".
	Preset             string   `json:"preset"`
	ConfigHash         string   `json:"config_hash"`
	TokenTimeout       Duration `json:"token_timeout"`
	TokenRetransmit    Duration `json:"token_retransmit"`
	TokenHold          Duration `json:"token_hold"`
	JoinTimeout        Duration `json:"join_timeout"`
	ConsensusTimeout   Duration `json:"consensus_timeout"`
	MergeTimeout       Duration `json:"merge_timeout"`
	WindowPackets      int      `json:"window_packets"`
	MaxPacketsPerVisit int      `json:"max_packets_per_visit"`
	MaxPacketBytes     int      `json:"max_packet_bytes"`
	MaxMessageBytes    int      `json:"max_message_bytes"`
	// MaxIDBytes is the ring's node id bound: the longest node name of
	// the site rounded up to IDBoundStep, unless configured.
	MaxIDBytes int `json:"max_id_bytes"`
}

// Duration is a time.Duration that JSON writes as "200ms".
type Duration time.Duration

// MarshalText writes the duration as time.Duration.String does.
func (d Duration) MarshalText() ([]byte, error) { return []byte(time.Duration(d).String()), nil }

// UnmarshalText reads what MarshalText writes.
func (d *Duration) UnmarshalText(b []byte) error {
	v, err := time.ParseDuration(string(b))
	*d = Duration(v)
	return err
}

func (d Duration) String() string { return time.Duration(d).String() }

// presets are the ring presets by name, as FromTopology applies them.
var presets = []struct {
	name Preset
	ring func() localring.Config
}{
	{PresetLAN, func() localring.Config { return localring.DefaultLAN("") }},
	{PresetCloud, func() localring.Config { return localring.DefaultCloud("") }},
}

// presetOf names the preset whose ring settings, in the agent's site, hash
// to h: "plan" (the planner's timers for the site, when FromTopology
// found them), "lan", "cloud", or "" for none.
func (a *Agent) presetOf(h uint64) Preset {
	p, _ := a.presetBound(h, a.cfg.ringIDBound())
	return p
}

// presetBound is presetOf for a peer whose node id bound may differ: it
// tries this node's bound first, then every multiple of IDBoundStep, and
// returns the preset and the bound that hash to h ("" and 0 for none).
func (a *Agent) presetBound(h uint64, first int) (Preset, int) {
	bounds := []int{first}
	for b := IDBoundStep; b <= localring.MaxIDBytes; b += IDBoundStep {
		if b != first {
			bounds = append(bounds, b)
		}
	}
	for _, b := range bounds {
		try := func(r localring.Config) bool {
			r.MaxIDBytes = b
			c := Config{Site: a.cfg.Site, Ring: r}
			return c.configHash() == h
		}
		if r := a.cfg.planRing; r != nil && try(*r) {
			return PresetPlan, b
		}
		for _, p := range presets {
			if try(p.ring()) {
				return p.name, b
			}
		}
	}
	return "", 0
}

// presetDesc describes a preset for a log line: its name and token timeout.
func (a *Agent) presetDesc(p Preset) string {
	if r := a.cfg.planRing; p == PresetPlan && r != nil {
		return fmt.Sprintf("ring preset plan (the planner's timers for site %s, token timeout %v)", a.cfg.Site, r.TokenTimeout)
	}
	for _, q := range presets {
		if q.name == p {
			return fmt.Sprintf("ring preset %s (token timeout %v)", p, q.ring().TokenTimeout)
		}
	}
	return "custom ring settings"
}

// configMismatchCause explains a packet rejected for another ring
// configuration hash (seal.ErrConfig) by the setting that differs: the
// ring preset (--ring-preset) when the peer's hash is that of a preset in
// this site, else the site or custom timings.
func (a *Agent) configMismatchCause(peerHash uint64) string {
	mine := a.presetOf(a.cfg.configHash())
	theirs, bound := a.presetBound(peerHash, a.cfg.ringIDBound())
	if my := a.cfg.ringIDBound(); bound != 0 && bound != my {
		return fmt.Sprintf("the peer allows node ids of up to %d bytes in the ring and this node %d: the bound is the longest node name of the site rounded up to %d bytes, so the peer's topology file lists other nodes for site %s (this node's: %s); give every node the same node list", bound, my, IDBoundStep, a.cfg.Site, strings.Join(a.cfg.Nodes, ", "))
	}
	if theirs != "" && theirs != mine {
		return fmt.Sprintf("the peer runs %s and this node %s: start every node of site %s with the same --ring-preset (the default, plan, takes the timers atoll plan derives for the site)", a.presetDesc(theirs), a.presetDesc(mine), a.cfg.Site)
	}
	return fmt.Sprintf("the peer's ring settings are those of no preset of site %s: it is configured for another site (its --node or topology file, or a topology file whose plan differs), or with other ring timings; this node runs %s", a.cfg.Site, a.presetDesc(mine))
}

// effective returns the agent's effective configuration.
func (a *Agent) effective() Effective {
	e := Effective{
		Version: a.cfg.Version, ConfigFile: a.cfg.ConfigFile, DataDir: a.cfg.DataDir,
		Ring: a.tr.LocalAddr().String(), Clients: a.cs.addrs,
	}
	if a.adminL != nil {
		e.Admin = "unix://" + a.cfg.AdminSocket
	}
	if a.metricsL != nil {
		e.Metrics = "http://" + a.metricsL.Addr().String() + "/metrics"
	}
	if a.httpL != nil {
		e.API = a.apiURL()
	}
	if a.cfg.ClientListen != "" {
		e.ClientAuth = "anonymous TLS"
		if a.cfg.ClientTLS != nil && a.cfg.ClientTLS.ClientAuth == tls.RequireAndVerifyClientCert {
			e.ClientAuth = "mutual TLS"
		}
	}
	r := a.ringSettings
	h := a.cfg.configHash()
	e.RingSettings = RingSettings{
		Preset: string(a.presetOf(h)), ConfigHash: hex64(h),
		TokenTimeout: Duration(r.TokenTimeout), TokenRetransmit: Duration(r.TokenRetransmit), TokenHold: Duration(r.TokenHold),
		JoinTimeout: Duration(r.JoinTimeout), ConsensusTimeout: Duration(r.ConsensusTimeout), MergeTimeout: Duration(r.MergeTimeout),
		WindowPackets: r.WindowPackets, MaxPacketsPerVisit: r.MaxPacketsPerVisit,
		MaxPacketBytes: r.MaxPacketBytes, MaxMessageBytes: r.MaxMessageBytes, MaxIDBytes: r.MaxIDBytes,
	}
	if e.RingSettings.Preset == "" {
		e.RingSettings.Preset = "custom"
		if strings.HasPrefix(a.cfg.RingSource, "plan") {
			e.RingSettings.Preset = string(PresetPlan)
		}
	}
	return e
}
