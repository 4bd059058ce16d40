package topology

import (
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

// Duration is a time.Duration written in the file as a Go duration string
// with a unit, such as "8ms", "200us" or "1.5s". JSON encodes it the same
// way.
type Duration time.Duration

// D returns d as a time.Duration.
func (d Duration) D() time.Duration { return time.Duration(d) }

// String formats d like time.Duration, with "µs" spelt "us" so that the
// output stays ASCII.
func (d Duration) String() string {
	return strings.Replace(time.Duration(d).String(), "µs", "us", 1)
}

// MarshalJSON encodes d as a duration string.
func (d Duration) MarshalJSON() ([]byte, error) { return json.Marshal(d.String()) }

// MarshalYAML encodes d as a duration string.
func (d Duration) MarshalYAML() (any, error) { return d.String(), nil }

// parseScalar implements scalar for the decoder.
func (d *Duration) parseScalar(s string) *problem {
	s = strings.TrimSpace(s)
	if s == "" {
		return &problem{"empty duration", `write a duration with a unit, such as "8ms"`}
	}
	if _, err := strconv.ParseFloat(s, 64); err == nil {
		return &problem{fmt.Sprintf("duration %q has no unit", s), fmt.Sprintf(`add a unit, such as "%sms" or "%sus"`, s, s)}
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		return &problem{fmt.Sprintf("cannot parse duration %q", s), `write a number and a unit (ns, us, ms, s, m, h), such as "8ms" or "1.5s"`}
	}
	if v < 0 {
		return &problem{fmt.Sprintf("duration %q is negative", s), "use a positive duration"}
	}
	*d = Duration(v)
	return nil
}

// Bandwidth is a data rate in bits per second, written in the file with a
// unit: "100Mbit/s", "1Gbit/s", "10Mbps", "12.5MB/s" (bytes), "kbit/s",
// "Tbit/s". Prefixes are decimal (k = 1000).
type Bandwidth int64

// BitsPerSecond returns b in bits per second.
func (b Bandwidth) BitsPerSecond() int64 { return int64(b) }

// String formats b with the largest decimal bit prefix that keeps the value
// readable, such as "100Mbit/s" or "2.5Gbit/s".
func (b Bandwidth) String() string {
	v := float64(b)
	for _, u := range []struct {
		f    float64
		name string
	}{{1e12, "Tbit/s"}, {1e9, "Gbit/s"}, {1e6, "Mbit/s"}, {1e3, "kbit/s"}} {
		if v >= u.f {
			return strconv.FormatFloat(v/u.f, 'f', -1, 64) + u.name
		}
	}
	return strconv.FormatInt(int64(b), 10) + "bit/s"
}

// MarshalJSON encodes b as a bandwidth string.
func (b Bandwidth) MarshalJSON() ([]byte, error) { return json.Marshal(b.String()) }

// MarshalYAML encodes b as a bandwidth string.
func (b Bandwidth) MarshalYAML() (any, error) { return b.String(), nil }

var bandwidthUnits = []struct {
	suffix string
	bits   float64
}{
	// Longer suffixes first so that "Mbit/s" is not read as "bit/s".
	{"Tbit/s", 1e12}, {"Gbit/s", 1e9}, {"Mbit/s", 1e6}, {"kbit/s", 1e3}, {"Kbit/s", 1e3}, {"bit/s", 1},
	{"Tbps", 1e12}, {"Gbps", 1e9}, {"Mbps", 1e6}, {"kbps", 1e3}, {"Kbps", 1e3}, {"bps", 1},
	{"TB/s", 8e12}, {"GB/s", 8e9}, {"MB/s", 8e6}, {"kB/s", 8e3}, {"KB/s", 8e3}, {"B/s", 8},
}

// parseScalar implements scalar for the decoder.
func (b *Bandwidth) parseScalar(s string) *problem {
	s = strings.TrimSpace(s)
	fix := `write a number and a unit, such as "100Mbit/s", "1Gbps" or "12.5MB/s"`
	for _, u := range bandwidthUnits {
		num, ok := strings.CutSuffix(s, u.suffix)
		if !ok {
			continue
		}
		v, err := strconv.ParseFloat(strings.TrimSpace(num), 64)
		if err != nil || math.IsNaN(v) || math.IsInf(v, 0) {
			return &problem{fmt.Sprintf("cannot parse bandwidth %q", s), fix}
		}
		if v < 0 {
			return &problem{fmt.Sprintf("bandwidth %q is negative", s), "use a positive bandwidth"}
		}
		bits := v * u.bits
		if bits > math.MaxInt64/2 {
			return &problem{fmt.Sprintf("bandwidth %q is too large", s), "use a bandwidth below 1000000Tbit/s"}
		}
		*b = Bandwidth(math.Round(bits))
		return nil
	}
	if _, err := strconv.ParseFloat(s, 64); err == nil {
		return &problem{fmt.Sprintf("bandwidth %q has no unit", s), fmt.Sprintf(`add a unit, such as "%sMbit/s"`, s)}
	}
	return &problem{fmt.Sprintf("cannot parse bandwidth %q", s), fix}
}
