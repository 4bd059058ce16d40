package bench

import (
	"encoding/binary"
	"fmt"
	"os"
	"slices"
)

// WriteSamples writes latency samples (nanoseconds) to path as
// little-endian int64s, the format the Corosync load client writes too.
func WriteSamples(path string, ns []int64) error {
	b := make([]byte, 8*len(ns))
	for i, v := range ns {
		binary.LittleEndian.PutUint64(b[8*i:], uint64(v))
	}
	if err := os.WriteFile(path, b, 0o644); err != nil {
		return fmt.Errorf("bench: write latency samples: %w", err)
	}
	return nil
}

// ReadSamples reads a file written by WriteSamples.
func ReadSamples(path string) ([]int64, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("bench: read latency samples: %w", err)
	}
	if len(b)%8 != 0 {
		return nil, fmt.Errorf("bench: %s: %d bytes is not a whole number of int64 samples", path, len(b))
	}
	ns := make([]int64, len(b)/8)
	for i := range ns {
		ns[i] = int64(binary.LittleEndian.Uint64(b[8*i:]))
	}
	return ns, nil
}

// Quantiles sorts ns in place and returns the q-quantiles (nearest rank),
// zero for an empty slice.
func Quantiles(ns []int64, qs ...float64) []int64 {
	out := make([]int64, len(qs))
	if len(ns) == 0 {
		return out
	}
	slices.Sort(ns)
	for i, q := range qs {
		k := int(q*float64(len(ns))+0.5) - 1
		out[i] = ns[min(max(k, 0), len(ns)-1)]
	}
	return out
}
