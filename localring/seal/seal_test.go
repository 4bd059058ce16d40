package seal_test

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"testing"

	"github.com/atoll-gcs/atoll/localring/seal"
)

var (
	modes  = []seal.Mode{seal.ModeEncrypt, seal.ModeAuth, seal.ModeNone}
	suites = []seal.Suite{seal.AES256GCM, seal.ChaCha20Poly1305}
)

// testKey is a fixed key so that failures replay exactly.
var testKey = func() seal.Key {
	var k seal.Key
	for i := range k {
		k[i] = byte(i*7 + 1)
	}
	return k
}()

func baseConfig(mode seal.Mode, suite seal.Suite, node string, inc uint64) seal.Config {
	c := seal.Config{
		Mode:        mode,
		Suite:       suite,
		Key:         testKey,
		Cluster:     "test",
		ConfigHash:  0x1234_5678_9abc_def0,
		Epoch:       3,
		Sender:      seal.SenderID(node),
		Incarnation: inc,
	}
	if mode == seal.ModeNone {
		c.Key = seal.Key{}
	}
	return c
}

func mustNew(t testing.TB, c seal.Config) *seal.Sealer {
	t.Helper()
	s, err := seal.New(c)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// pair returns a sealer for node "a" and one for node "b" of the same ring.
func pair(t testing.TB, mode seal.Mode, suite seal.Suite) (a, b *seal.Sealer) {
	return mustNew(t, baseConfig(mode, suite, "a", 1)), mustNew(t, baseConfig(mode, suite, "b", 1))
}

// eachMode runs f for every mode and suite (the suite is irrelevant in
// ModeNone, so it runs once).
func eachMode(t *testing.T, f func(t *testing.T, mode seal.Mode, suite seal.Suite)) {
	for _, mode := range modes {
		for _, suite := range suites {
			if mode == seal.ModeNone && suite != seal.AES256GCM {
				continue
			}
			t.Run(fmt.Sprintf("%s/%s", mode, suite), func(t *testing.T) { f(t, mode, suite) })
		}
	}
}

func payload(n int, seed uint64) []byte {
	r := rand.New(rand.NewPCG(seed, 1))
	p := make([]byte, n)
	for i := range p {
		p[i] = byte(r.Uint32())
	}
	return p
}

func TestRoundTrip(t *testing.T) {
	eachMode(t, func(t *testing.T, mode seal.Mode, suite seal.Suite) {
		a, b := pair(t, mode, suite)
		for i, n := range []int{0, 1, 100, 1024, 9000} {
			p := payload(n, uint64(i))
			pkt := a.Seal(nil, p)
			if len(pkt) != n+a.Overhead() {
				t.Fatalf("len(Seal(%d bytes)) = %d, want %d", n, len(pkt), n+a.Overhead())
			}
			if body := pkt[seal.HeaderLen : seal.HeaderLen+n]; n >= 16 && (mode == seal.ModeEncrypt) == bytes.Equal(body, p) {
				t.Fatalf("mode %s: payload in the clear = %v, want %v", mode, bytes.Equal(body, p), mode != seal.ModeEncrypt)
			}
			prefix := []byte("prefix")
			got, from, err := b.Open(prefix, pkt)
			if err != nil {
				t.Fatalf("Open: %v", err)
			}
			if !bytes.Equal(got, append([]byte("prefix"), p...)) {
				t.Fatalf("Open returned %x, want prefix + %x", got, p)
			}
			if want := (seal.Origin{Sender: seal.SenderID("a"), Incarnation: 1, Counter: uint64(i + 1)}); from != want {
				t.Fatalf("origin %+v, want %+v", from, want)
			}
			// The same packet, opened in place by another receiver.
			c := mustNew(t, baseConfig(mode, suite, "c", 1))
			got, _, err = c.OpenInPlace(pkt)
			if err != nil || !bytes.Equal(got, p) {
				t.Fatalf("OpenInPlace = %x, %v; want %x", got, err, p)
			}
		}
	})
}

func TestSealAppends(t *testing.T) {
	a, b := pair(t, seal.ModeEncrypt, seal.AES256GCM)
	buf := a.Seal([]byte("xyz"), []byte("one"))
	buf = a.Seal(buf, []byte("two"))
	first := buf[3 : 3+3+a.Overhead()]
	second := buf[3+len(first):]
	for i, pkt := range [][]byte{first, second} {
		got, _, err := b.Open(nil, pkt)
		if err != nil || string(got) != []string{"one", "two"}[i] {
			t.Fatalf("packet %d: %q, %v", i, got, err)
		}
	}
	if string(buf[:3]) != "xyz" {
		t.Fatalf("Seal changed dst's prefix: %q", buf[:3])
	}
}

func TestWrongKeyRejected(t *testing.T) {
	for _, mode := range []seal.Mode{seal.ModeEncrypt, seal.ModeAuth} {
		t.Run(mode.String(), func(t *testing.T) {
			other := baseConfig(mode, seal.AES256GCM, "a", 1)
			other.Key = seal.GenerateKey()
			a := mustNew(t, other)
			b := mustNew(t, baseConfig(mode, seal.AES256GCM, "b", 1))
			pkt := a.Seal(nil, []byte("hello"))
			if _, _, err := b.Open(nil, pkt); !errors.Is(err, seal.ErrWrongKey) {
				t.Fatalf("Open = %v, want ErrWrongKey", err)
			}
			// A node that also forges our key id still fails authentication.
			copy(pkt[4:8], beUint32(b.KeyID()))
			if _, _, err := b.Open(nil, pkt); !errors.Is(err, seal.ErrAuth) {
				t.Fatalf("Open with forged key id = %v, want ErrAuth", err)
			}
			st := b.Stats()
			if st.WrongKey != 1 || st.AuthFailed != 1 || st.Opened != 0 {
				t.Fatalf("stats %+v, want 1 wrong key, 1 auth failure", st)
			}
		})
	}
}

func beUint32(v uint32) []byte { return []byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)} }

func TestMismatchRejected(t *testing.T) {
	tests := []struct {
		name   string
		change func(*seal.Config)
		field  [2]int // header bytes that differ; forging them must still fail
		want   error
	}{
		{"cluster", func(c *seal.Config) { c.Cluster = "other" }, [2]int{8, 12}, seal.ErrCluster},
		{"config", func(c *seal.Config) { c.ConfigHash++ }, [2]int{12, 20}, seal.ErrConfig},
		{"epoch", func(c *seal.Config) { c.Epoch++ }, [2]int{20, 24}, seal.ErrEpoch},
		{"mode", func(c *seal.Config) { c.Mode = seal.ModeAuth }, [2]int{1, 2}, seal.ErrMode},
		{"suite", func(c *seal.Config) { c.Suite = seal.ChaCha20Poly1305 }, [2]int{2, 3}, seal.ErrMode},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := baseConfig(seal.ModeEncrypt, seal.AES256GCM, "a", 1)
			tt.change(&cfg)
			a := mustNew(t, cfg)
			b := mustNew(t, baseConfig(seal.ModeEncrypt, seal.AES256GCM, "b", 1))
			pkt := a.Seal(nil, []byte("hello"))
			_, _, err := b.Open(nil, pkt)
			if !errors.Is(err, tt.want) {
				t.Fatalf("Open = %v, want %v", err, tt.want)
			}
			var e *seal.Error
			if !errors.As(err, &e) || e.Kind != seal.KindMismatch {
				t.Fatalf("error %v has kind %v, want mismatch", err, e.Kind)
			}
			// Rewrite the differing field to ours: the key derivation binds
			// it, so the packet still never authenticates.
			ours := b.Seal(nil, nil)
			copy(pkt[tt.field[0]:tt.field[1]], ours[tt.field[0]:tt.field[1]])
			if _, _, err := b.Open(nil, pkt); !errors.Is(err, seal.ErrAuth) {
				t.Fatalf("Open with forged %s field = %v, want ErrAuth", tt.name, err)
			}
		})
	}
}

func TestReplayRejected(t *testing.T) {
	eachMode(t, func(t *testing.T, mode seal.Mode, suite seal.Suite) {
		a, b := pair(t, mode, suite)
		pkt := a.Seal(nil, []byte("once"))
		if _, _, err := b.Open(nil, pkt); err != nil {
			t.Fatal(err)
		}
		if _, _, err := b.Open(nil, pkt); !errors.Is(err, seal.ErrReplay) {
			t.Fatalf("second Open = %v, want ErrReplay", err)
		}
		if st := b.Stats(); st.Replayed != 1 || st.Opened != 1 {
			t.Fatalf("stats %+v", st)
		}
	})
}

func TestOldCounterRejected(t *testing.T) {
	a, b := pair(t, seal.ModeAuth, seal.AES256GCM)
	pkts := make([][]byte, 2001) // pkts[c] has counter c
	for c := 1; c <= 2000; c++ {
		pkts[c] = a.Seal(nil, []byte{byte(c)})
	}
	if _, _, err := b.Open(nil, pkts[2000]); err != nil {
		t.Fatal(err)
	}
	if _, _, err := b.Open(nil, pkts[2000-seal.ReplayWindow]); !errors.Is(err, seal.ErrTooOld) {
		t.Fatalf("counter top-%d: %v, want ErrTooOld", seal.ReplayWindow, err)
	}
	if _, _, err := b.Open(nil, pkts[1]); !errors.Is(err, seal.ErrTooOld) {
		t.Fatalf("counter 1: %v, want ErrTooOld", err)
	}
	if _, from, err := b.Open(nil, pkts[2000-seal.ReplayWindow+1]); err != nil || from.Counter != 2000-seal.ReplayWindow+1 {
		t.Fatalf("oldest counter inside the window: %+v, %v", from, err)
	}
}

func TestReorderWithinWindowAccepted(t *testing.T) {
	eachMode(t, func(t *testing.T, mode seal.Mode, suite seal.Suite) {
		a, b := pair(t, mode, suite)
		pkts := make([][]byte, seal.ReplayWindow)
		for i := range pkts {
			pkts[i] = a.Seal(nil, []byte(fmt.Sprint(i)))
		}
		r := rand.New(rand.NewPCG(7, 7))
		order := r.Perm(len(pkts))
		for _, i := range order {
			got, from, err := b.Open(nil, pkts[i])
			if err != nil || string(got) != fmt.Sprint(i) || from.Counter != uint64(i+1) {
				t.Fatalf("packet %d: %q %+v %v", i, got, from, err)
			}
		}
		for _, i := range order {
			if _, _, err := b.Open(nil, pkts[i]); !errors.Is(err, seal.ErrReplay) {
				t.Fatalf("replayed packet %d: %v, want ErrReplay", i, err)
			}
		}
	})
}

func TestTamperRejected(t *testing.T) {
	for _, mode := range []seal.Mode{seal.ModeEncrypt, seal.ModeAuth} {
		for _, suite := range suites {
			t.Run(fmt.Sprintf("%s/%s", mode, suite), func(t *testing.T) {
				a, b := pair(t, mode, suite)
				pkt := a.Seal(nil, payload(64, 1))
				for bit := 0; bit < 8*len(pkt); bit++ {
					bad := bytes.Clone(pkt)
					bad[bit/8] ^= 1 << (bit % 8)
					if got, from, err := b.Open(nil, bad); err == nil {
						t.Fatalf("flipping bit %d (byte %d) was accepted: %x from %+v", bit, bit/8, got, from)
					}
				}
				if _, _, err := b.Open(nil, pkt); err != nil {
					t.Fatalf("untouched packet after the tampered ones: %v", err)
				}
				// Every flip in the replay-window fields and the body fails
				// authentication; flips of identity fields are mismatches.
				st := b.Stats()
				if st.Opened != 1 || st.Rejected() != uint64(8*len(pkt)) {
					t.Fatalf("stats %+v", st)
				}
			})
		}
	}
}

func TestTruncatedRejected(t *testing.T) {
	eachMode(t, func(t *testing.T, mode seal.Mode, suite seal.Suite) {
		a, b := pair(t, mode, suite)
		pkt := a.Seal(nil, payload(40, 2))
		for n := 0; n < len(pkt); n++ {
			short := bytes.Clone(pkt[:n])
			_, _, err := b.Open(nil, short)
			if mode == seal.ModeNone && n >= seal.HeaderLen {
				continue // nothing authenticates the length in mode none
			}
			if err == nil {
				t.Fatalf("%d-byte prefix accepted", n)
			}
			if n < b.Overhead() && !errors.Is(err, seal.ErrTruncated) {
				t.Fatalf("%d-byte prefix: %v, want ErrTruncated", n, err)
			}
		}
		// Oversized: bytes appended after the tag.
		if mode != seal.ModeNone {
			long := append(bytes.Clone(pkt), 0)
			if _, _, err := b.Open(nil, long); !errors.Is(err, seal.ErrAuth) {
				t.Fatalf("packet with a trailing byte: %v, want ErrAuth", err)
			}
		}
	})
}

func TestRestartWithNewIncarnation(t *testing.T) {
	eachMode(t, func(t *testing.T, mode seal.Mode, suite seal.Suite) {
		// The incarnations differ only above bit 32, so the two nonces of
		// the same counter are byte-identical: only the per-incarnation key
		// keeps the (key, nonce) pair from repeating.
		const inc1, inc2 = 5, 5 + 1<<32
		p := payload(256, 3)
		before := mustNew(t, baseConfig(mode, suite, "a", inc1))
		after := mustNew(t, baseConfig(mode, suite, "a", inc2))
		b := mustNew(t, baseConfig(mode, suite, "b", 1))

		old1 := before.Seal(nil, p)
		old2 := before.Seal(nil, p)
		new1 := after.Seal(nil, p)
		if !bytes.Equal(old1[36:48], new1[36:48]) {
			t.Fatalf("test setup: nonces differ: %x vs %x", old1[36:48], new1[36:48])
		}
		if mode == seal.ModeEncrypt {
			ctOld, ctNew := old1[seal.HeaderLen:], new1[seal.HeaderLen:]
			same := 0
			for i := range p {
				if ctOld[i] == ctNew[i] {
					same++
				}
			}
			if same > len(p)/16 { // a reused keystream would make them equal
				t.Fatalf("ciphertexts of the same payload and nonce share %d of %d bytes: keystream reused across incarnations", same, len(p))
			}
		}
		if mode != seal.ModeNone && bytes.Equal(old1[len(old1)-seal.TagLen:], new1[len(new1)-seal.TagLen:]) {
			t.Fatal("same tag for the same payload and nonce across incarnations: key reused")
		}

		for _, pkt := range [][]byte{old1, new1} {
			if _, _, err := b.Open(nil, pkt); err != nil {
				t.Fatalf("Open: %v", err)
			}
		}
		// After the restart, the old incarnation is a replay, even a packet
		// the receiver never saw.
		if _, _, err := b.Open(nil, old2); !errors.Is(err, seal.ErrStaleIncarnation) {
			t.Fatalf("old incarnation after the new one: %v, want ErrStaleIncarnation", err)
		}
		if _, _, err := b.Open(nil, new1); !errors.Is(err, seal.ErrReplay) {
			t.Fatalf("replay in the new incarnation: %v, want ErrReplay", err)
		}
	})
}

// TestForgedIncarnationDoesNotEvict checks that a packet claiming a newer
// incarnation of a known sender, which fails authentication, leaves the
// sender's state alone.
func TestForgedIncarnationDoesNotEvict(t *testing.T) {
	a, b := pair(t, seal.ModeEncrypt, seal.AES256GCM)
	first := a.Seal(nil, []byte("1"))
	second := a.Seal(nil, []byte("2"))
	if _, _, err := b.Open(nil, first); err != nil {
		t.Fatal(err)
	}
	forged := bytes.Clone(second)
	forged[32] ^= 0x80 // incarnation + 2^63
	if _, _, err := b.Open(nil, forged); !errors.Is(err, seal.ErrAuth) {
		t.Fatalf("forged incarnation: %v, want ErrAuth", err)
	}
	if _, _, err := b.Open(nil, second); err != nil {
		t.Fatalf("real packet after the forged one: %v", err)
	}
	if _, _, err := b.Open(nil, first); !errors.Is(err, seal.ErrReplay) {
		t.Fatalf("replay after the forged one: %v, want ErrReplay", err)
	}
}

func TestVersionRejected(t *testing.T) {
	a, b := pair(t, seal.ModeEncrypt, seal.AES256GCM)
	pkt := a.Seal(nil, []byte("x"))
	for _, i := range []int{0, 3} {
		bad := bytes.Clone(pkt)
		bad[i]++
		_, _, err := b.Open(nil, bad)
		var e *seal.Error
		if !errors.As(err, &e) || e.Kind != seal.KindVersion {
			t.Fatalf("byte %d changed: %v, want a version error", i, err)
		}
	}
}

func TestDiagnose(t *testing.T) {
	cfg := baseConfig(seal.ModeEncrypt, seal.AES256GCM, "a", 1)
	cfg.Key = seal.GenerateKey()
	a := mustNew(t, cfg)
	b := mustNew(t, baseConfig(seal.ModeEncrypt, seal.AES256GCM, "b", 1))
	pkt := a.Seal(nil, []byte("x"))
	_, _, err := b.Open(nil, pkt)
	line := b.Diagnose(pkt, err)
	for _, want := range []string{fmt.Sprintf("%08x", a.KeyID()), fmt.Sprintf("%08x", b.KeyID()), "atoll keygen", fmt.Sprintf("%016x", seal.SenderID("a"))} {
		if !strings.Contains(line, want) {
			t.Errorf("Diagnose = %q, missing %q", line, want)
		}
	}
	if line := b.Diagnose([]byte{1, 2}, seal.ErrTruncated); !strings.Contains(line, "2-byte") {
		t.Errorf("Diagnose(truncated) = %q", line)
	}
	cfg = baseConfig(seal.ModeEncrypt, seal.AES256GCM, "a", 1)
	cfg.ConfigHash = 0xfeed
	pkt = mustNew(t, cfg).Seal(nil, nil)
	_, _, err = b.Open(nil, pkt)
	if line := b.Diagnose(pkt, err); !strings.Contains(line, "000000000000feed") || !strings.Contains(line, "ring timings") {
		t.Errorf("Diagnose(config) = %q", line)
	}
}

func TestConfigValidate(t *testing.T) {
	tests := []struct {
		name   string
		change func(*seal.Config)
		want   string
	}{
		{"no key", func(c *seal.Config) { c.Key = seal.Key{} }, "atoll keygen"},
		{"none with key", func(c *seal.Config) { c.Mode = seal.ModeNone }, "ignores the key"},
		{"no cluster", func(c *seal.Config) { c.Cluster = "" }, "cluster name"},
		{"no sender", func(c *seal.Config) { c.Sender = 0 }, "SenderID"},
		{"no incarnation", func(c *seal.Config) { c.Incarnation = 0 }, "NextIncarnation"},
		{"bad mode", func(c *seal.Config) { c.Mode = 9 }, "unknown mode"},
		{"bad suite", func(c *seal.Config) { c.Suite = 9 }, "unknown cipher suite"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := baseConfig(seal.ModeEncrypt, seal.AES256GCM, "a", 1)
			tt.change(&cfg)
			_, err := seal.New(cfg)
			if err == nil || !strings.Contains(err.Error(), tt.want) || !strings.HasPrefix(err.Error(), "seal: ") {
				t.Fatalf("New = %v, want an error mentioning %q", err, tt.want)
			}
		})
	}
}

func TestModeNoneIsLoud(t *testing.T) {
	s := mustNew(t, baseConfig(seal.ModeNone, 0, "a", 1))
	if w := s.Warning(); !strings.Contains(w, "OFF") {
		t.Fatalf("Warning() = %q", w)
	}
	if w := mustNew(t, baseConfig(seal.ModeAuth, 0, "a", 1)).Warning(); w != "" {
		t.Fatalf("Warning() in mode auth = %q", w)
	}
	var zero seal.Config
	if zero.Mode != seal.ModeEncrypt {
		t.Fatal("the zero Mode must be ModeEncrypt")
	}
}

func TestParseModeSuite(t *testing.T) {
	for _, m := range modes {
		if got, err := seal.ParseMode(m.String()); err != nil || got != m {
			t.Errorf("ParseMode(%q) = %v, %v", m, got, err)
		}
	}
	for _, s := range suites {
		if got, err := seal.ParseSuite(s.String()); err != nil || got != s {
			t.Errorf("ParseSuite(%q) = %v, %v", s, got, err)
		}
	}
	if _, err := seal.ParseMode("plain"); err == nil {
		t.Error("ParseMode(plain) succeeded")
	}
	if _, err := seal.ParseSuite("rot13"); err == nil {
		t.Error("ParseSuite(rot13) succeeded")
	}
}

func TestSteadyStateAllocs(t *testing.T) {
	if testing.Short() {
		t.Skip("allocation counts are unreliable under -short runs with -race")
	}
	eachMode(t, func(t *testing.T, mode seal.Mode, suite seal.Suite) {
		a, b := pair(t, mode, suite)
		p := payload(1024, 4)
		pkt := make([]byte, 0, 2048)
		out := make([]byte, 0, 2048)
		// Warm up: b learns a's key.
		if _, _, err := b.Open(nil, a.Seal(nil, p)); err != nil {
			t.Fatal(err)
		}
		n := testing.AllocsPerRun(200, func() {
			pkt = a.Seal(pkt[:0], p)
			var err error
			if out, _, err = b.Open(out[:0], pkt); err != nil {
				t.Fatal(err)
			}
			pkt = a.Seal(pkt[:0], p)
			if _, _, err = b.OpenInPlace(pkt); err != nil {
				t.Fatal(err)
			}
		})
		if n != 0 {
			t.Fatalf("Seal+Open+Seal+OpenInPlace allocate %v times per run, want 0", n)
		}
		// Rejections allocate nothing either.
		bad := a.Seal(nil, p)
		bad[len(bad)-1] ^= 1
		if n := testing.AllocsPerRun(200, func() { b.Open(out[:0], bad) }); n != 0 {
			t.Fatalf("rejected Open allocates %v times, want 0", n)
		}
	})
}

func TestConcurrentUse(t *testing.T) {
	a, b := pair(t, seal.ModeEncrypt, seal.ChaCha20Poly1305)
	const senders, perSender = 4, 200
	pkts := make(chan []byte, senders*perSender)
	var wg sync.WaitGroup
	for range senders {
		wg.Go(func() {
			for range perSender {
				pkts <- a.Seal(nil, []byte("concurrent"))
			}
		})
	}
	wg.Wait()
	close(pkts)
	var opened sync.WaitGroup
	for range 4 {
		opened.Go(func() {
			for pkt := range pkts {
				if _, _, err := b.Open(nil, pkt); err != nil { // 800 counters fit in the window
					t.Error(err)
				}
				_ = b.Stats()
			}
		})
	}
	opened.Wait()
	if st := a.Stats(); st.Sealed != senders*perSender {
		t.Fatalf("sealed %d, want %d", st.Sealed, senders*perSender)
	}
	if st := b.Stats(); st.Opened != senders*perSender || st.Rejected() != 0 {
		t.Fatalf("stats %+v", st)
	}
}

func TestForget(t *testing.T) {
	a, b := pair(t, seal.ModeEncrypt, seal.AES256GCM)
	pkt := a.Seal(nil, nil)
	if _, _, err := b.Open(nil, pkt); err != nil {
		t.Fatal(err)
	}
	b.Forget(seal.SenderID("a"))
	if _, _, err := b.Open(nil, pkt); err != nil { // the window is gone with it
		t.Fatalf("after Forget: %v", err)
	}
}
