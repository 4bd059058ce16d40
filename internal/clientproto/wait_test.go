package clientproto

import (
	"errors"
	"net"
	"os"
	"testing"
	"time"
)

// TestReaderWait: Wait returns once a whole frame is buffered; a deadline
// that passes while half a frame is there ends it with the deadline's
// error and consumes nothing, so Next then returns the frame whole.
func TestReaderWait(t *testing.T) {
	a, b := net.Pipe()
	defer a.Close()
	defer b.Close()
	r := NewReader(a)
	r.SetMax(MaxFrame)
	frame := Append(nil, &Frame{Type: TypeMessage, Svc: 5, Sender: "n2:y", Seq: 7, MsgID: "n2/1/1", Groups: []string{"g"}, Payload: []byte("whole")})
	go b.Write(frame[:len(frame)/2])
	a.SetReadDeadline(time.Now().Add(50 * time.Millisecond))
	if err := r.Wait(); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("Wait with half a frame: %v, want the deadline's error", err)
	}
	if r.Buffered() {
		t.Fatal("Buffered with half a frame")
	}
	a.SetReadDeadline(time.Time{})
	go b.Write(frame[len(frame)/2:])
	if err := r.Wait(); err != nil {
		t.Fatalf("Wait: %v", err)
	}
	if !r.Buffered() {
		t.Fatal("not Buffered after Wait")
	}
	f, err := r.Next()
	if err != nil || f.Seq != 7 || string(f.Payload) != "whole" {
		t.Fatalf("Next: %+v, %v; want the frame whole", f, err)
	}
}
