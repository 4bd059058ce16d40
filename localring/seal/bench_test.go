package seal_test

import (
	"fmt"
	"testing"

	"github.com/atoll-gcs/atoll/localring/seal"
)

// benchModes runs f for 1 KiB payloads in every mode and suite.
func benchModes(b *testing.B, f func(b *testing.B, a, r *seal.Sealer, p []byte)) {
	for _, mode := range modes {
		for _, suite := range suites {
			if mode == seal.ModeNone && suite != seal.AES256GCM {
				continue
			}
			name := fmt.Sprintf("%s/%s/1KiB", mode, suite)
			if mode == seal.ModeNone {
				name = "none/1KiB"
			}
			b.Run(name, func(b *testing.B) {
				a, r := pair(b, mode, suite)
				p := payload(1024, 9)
				b.SetBytes(int64(len(p)))
				b.ReportAllocs()
				f(b, a, r, p)
			})
		}
	}
}

func BenchmarkSeal(b *testing.B) {
	benchModes(b, func(b *testing.B, a, _ *seal.Sealer, p []byte) {
		pkt := make([]byte, 0, 2048)
		for b.Loop() {
			pkt = a.Seal(pkt[:0], p)
		}
	})
}

// BenchmarkOpen measures Open alone: packets are sealed in batches outside
// the timer, since each counter is accepted only once.
func BenchmarkOpen(b *testing.B) {
	benchModes(b, func(b *testing.B, a, r *seal.Sealer, p []byte) {
		const batch = 512
		pkts := make([][]byte, batch)
		for i := range pkts {
			pkts[i] = make([]byte, 0, 2048)
		}
		out := make([]byte, 0, 2048)
		b.ResetTimer()
		for i := 0; i < b.N; {
			b.StopTimer()
			for j := range pkts {
				pkts[j] = a.Seal(pkts[j][:0], p)
			}
			b.StartTimer()
			for j := 0; j < batch && i < b.N; j, i = j+1, i+1 {
				var err error
				if out, _, err = r.Open(out[:0], pkts[j]); err != nil {
					b.Fatal(err)
				}
			}
		}
	})
}

// BenchmarkRoundTrip seals and opens in place, the path of every packet.
func BenchmarkRoundTrip(b *testing.B) {
	benchModes(b, func(b *testing.B, a, r *seal.Sealer, p []byte) {
		pkt := make([]byte, 0, 2048)
		for b.Loop() {
			pkt = a.Seal(pkt[:0], p)
			if _, _, err := r.OpenInPlace(pkt); err != nil {
				b.Fatal(err)
			}
		}
	})
}
