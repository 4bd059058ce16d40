package seal

import "testing"

// TestConfigHashOf reads the configuration hash a packet claims, for
// telling an operator which setting differs.
func TestConfigHashOf(t *testing.T) {
	s, err := New(Config{Key: GenerateKey(), Cluster: "c", ConfigHash: 0x0123456789abcdef, Sender: SenderID("a"), Incarnation: 1})
	if err != nil {
		t.Fatal(err)
	}
	pkt := s.Seal(nil, []byte("x"))
	if h, ok := ConfigHashOf(pkt); !ok || h != 0x0123456789abcdef {
		t.Errorf("ConfigHashOf = %x %v", h, ok)
	}
	if _, ok := ConfigHashOf(pkt[:HeaderLen-1]); ok {
		t.Errorf("ConfigHashOf of a short packet: ok")
	}
}
