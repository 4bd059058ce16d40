package wanem

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"io"
	"math/big"
	"testing"
	"time"

	"github.com/quic-go/quic-go"
)

// selfSigned returns a throwaway TLS certificate for 127.0.0.1.
func selfSigned(t *testing.T) tls.Certificate {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), DNSNames: []string{"localhost"}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
}

// TestQUICThroughRelay: a quic-go connection (GSO, path MTU discovery,
// ECN and all) works through a lossy, capped relay, a transfer arrives
// whole, and a cut path makes the connection time out.
func TestQUICThroughRelay(t *testing.T) {
	const alpn = "wanem-test"
	ln, err := quic.ListenAddr("127.0.0.1:0", &tls.Config{Certificates: []tls.Certificate{selfSigned(t)}, NextProtos: []string{alpn}},
		&quic.Config{EnableDatagrams: true})
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	const size = 256 << 10
	go func() {
		for {
			c, err := ln.Accept(context.Background())
			if err != nil {
				return
			}
			go func() {
				s, err := c.AcceptStream(context.Background())
				if err != nil {
					return
				}
				n, _ := io.Copy(io.Discard, s)
				s.Write([]byte{byte(n >> 16), byte(n >> 8), byte(n)})
				s.Close()
				// Echo datagrams.
				for {
					d, err := c.ReceiveDatagram(context.Background())
					if err != nil {
						return
					}
					c.SendDatagram(d)
				}
			}()
		}
	}()
	r, err := Pipe(ln.Addr().String(), Params{Delay: 25 * time.Millisecond, Loss: 0.01, BitsPerSec: 20_000_000})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	start := time.Now()
	c, err := quic.DialAddr(ctx, r.Addr(), &tls.Config{InsecureSkipVerify: true, NextProtos: []string{alpn}},
		&quic.Config{EnableDatagrams: true, MaxIdleTimeout: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer c.CloseWithError(0, "")
	if hs := time.Since(start); hs < 50*time.Millisecond {
		t.Fatalf("a QUIC handshake through a 50 ms path took %v", hs)
	}
	s, err := c.OpenStreamSync(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Write(make([]byte, size)); err != nil {
		t.Fatal(err)
	}
	s.Close()
	var got [3]byte
	if _, err := io.ReadFull(s, got[:]); err != nil {
		t.Fatal(err)
	}
	if n := int(got[0])<<16 | int(got[1])<<8 | int(got[2]); n != size {
		t.Fatalf("the server got %d bytes of %d", n, size)
	}
	// A datagram comes back (retried: the path loses 1 %).
	echoed := false
	for i := 0; i < 10 && !echoed; i++ {
		if err := c.SendDatagram([]byte("dgram")); err != nil {
			t.Fatal(err)
		}
		dctx, dcancel := context.WithTimeout(ctx, time.Second)
		d, err := c.ReceiveDatagram(dctx)
		dcancel()
		echoed = err == nil && string(d) == "dgram"
	}
	if !echoed {
		t.Fatal("no QUIC datagram echoed through the relay in 10 tries")
	}
	st := r.Forward().Stats()
	t.Logf("forward: %d packets, %d bytes, lost %d; reverse %d packets", st.Packets, st.Bytes, st.Drops.Loss, r.Reverse().Stats().Packets)
	if st.Bytes < size {
		t.Fatalf("the forward link carried %d bytes for a %d-byte transfer", st.Bytes, size)
	}
	// Cut: the connection dies of its idle timeout.
	r.Cut()
	select {
	case <-c.Context().Done():
	case <-time.After(30 * time.Second):
		t.Fatal("a QUIC connection over a cut path is still open after 30 s (idle timeout 2 s)")
	}
}
