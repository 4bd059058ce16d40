package clientproto

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"
	"unsafe"
)

// samples holds one frame of every type, with every field set.
func samples() []Frame {
	v := View{Group: "orders", ID: "r:7:fra-1@3.1", Reason: ReasonJoin,
		Members: []string{"fra-1:a", "fra-2:b"}, Joined: []string{"fra-2:b"}}
	return []Frame{
		{Type: TypeHello, MinVersion: 1, MaxVersion: 3, Name: "alice"},
		{Type: TypeHello, MinVersion: 1, MaxVersion: 1},
		{Type: TypeJoin, Req: 1, Group: "orders"},
		{Type: TypeLeave, Req: 2, Group: "orders"},
		{Type: TypeMulticast, Req: 3, Svc: 5, MsgType: 0xBEEF, Groups: []string{"a", "b"}, Payload: []byte("hello")},
		{Type: TypeMulticast, Req: 3, Svc: 6, Groups: []string{"a"}},
		{Type: TypeSend, Req: 4, Svc: 3, MsgType: 7, To: "fra-2:b", Payload: []byte{0, 1, 2}},
		{Type: TypeFlush, Req: 5},
		{Type: TypeListGroups, Req: 6},
		{Type: TypeGetView, Req: 7, Group: "orders"},
		{Type: TypePing, Req: 8},
		{Type: TypeWelcome, Version: 1, Name: "fra-1:alice", Node: "fra-1", MaxMessage: 1 << 20, MaxFrame: MaxFrame, QueueFrames: 4096},
		{Type: TypeWelcome, Version: 2, Name: "fra-1:alice", Node: "fra-1", MaxMessage: 1 << 20, MaxFrame: MaxFrame, QueueFrames: 4096, WindowMsgs: 64, WindowBytes: 256 << 10},
		{Type: TypeOK, Req: 3, Seq: 99},
		{Type: TypeError, Req: 1, Code: CodeDenied, Op: TypeJoin, Seq: 0, Group: "orders", Text: "denied by the group's ACL"},
		{Type: TypeView, View: v},
		{Type: TypeView, View: View{Group: "orders", ID: "t:8:fra-1~00ff", Flags: FlagTransitional, Members: []string{"fra-1:a"}}},
		{Type: TypeMessage, Svc: 5, MsgType: 2, Sender: "fra-1:a", Seq: 4, Order: 1 << 40, MsgID: "fra-1/17/4", Groups: []string{"orders", "audit"}, Payload: []byte("x")},
		{Type: TypeMessage, Flags8: FlagPointToPoint, Svc: 4, Sender: "fra-1:a", Seq: 5, MsgID: "fra-1/17/5", To: "fra-2:b", Payload: []byte("y")},
		{Type: TypeLeft, Group: "orders"},
		{Type: TypeWarning, Code: CodeSlowConsumer, Queued: 2048, Limit: 4096, Text: "read faster"},
		{Type: TypeGroupList, Req: 6, Flags8: FlagLast, Entries: []GroupEntry{{Group: "a", Members: 3, ViewID: "r:1:x"}, {Group: "b", Members: 1}}},
		{Type: TypeGroupList, Req: 6},
		{Type: TypeViewReply, Req: 7, Flags8: FlagFound, View: v},
		{Type: TypeViewReply, Req: 7},
		{Type: TypePong, Req: 8},
		{Type: TypeGoodbye, Code: CodeShuttingDown, Text: "agent fra-1 is shutting down"},
	}
}

func TestRoundTrip(t *testing.T) {
	seen := map[Type]bool{}
	for _, f := range samples() {
		seen[f.Type] = true
		b := Append(nil, &f)
		got, err := Parse(b[LengthSize:])
		if err != nil {
			t.Fatalf("%s: Parse: %v", f.Type, err)
		}
		if !reflect.DeepEqual(normalize(got), normalize(f)) {
			t.Errorf("%s: round trip\n got %+v\nwant %+v", f.Type, got, f)
		}
		if again := Append(nil, &got); !bytes.Equal(again, b) {
			t.Errorf("%s: re-encoding differs", f.Type)
		}
	}
	for ty := range typeNames {
		if !seen[ty] {
			t.Errorf("no sample of frame type %s", ty)
		}
	}
}

// normalize makes empty slices nil, as Parse returns them.
func normalize(f Frame) Frame {
	if len(f.Payload) == 0 {
		f.Payload = nil
	}
	return f
}

func TestParseErrors(t *testing.T) {
	join := Append(nil, &Frame{Type: TypeJoin, Req: 1, Group: "orders"})[LengthSize:]
	hello := Append(nil, &Frame{Type: TypeHello, MinVersion: 1, MaxVersion: 1})[LengthSize:]
	bad := func(b []byte, mutate func([]byte) []byte) []byte { return mutate(bytes.Clone(b)) }
	for _, c := range []struct {
		name string
		b    []byte
		want string
	}{
		{"empty", nil, "empty frame"},
		{"unknown type", []byte{0x40, 1, 2}, "unknown frame type 0x40"},
		{"truncated", join[:len(join)-2], "join frame: group: truncated"},
		{"trailing", append(bytes.Clone(join), 0), "1 bytes after the last field"},
		{"magic", bad(hello, func(b []byte) []byte { b[1] = 'G'; return b }), "does not speak the Atoll client protocol"},
		{"list count", []byte{byte(TypeMulticast), 0, 0, 0, 1, 5, 0, 0, 0xFF, 0xFF, 0xFF, 0xFF}, "groups: count 4294967295 exceeds"},
		{"payload length", []byte{byte(TypeSend), 0, 0, 0, 1, 5, 0, 0, 0, 0, 0, 0, 9}, "payload: length 9 exceeds"},
		{"flag bits", []byte{byte(TypeViewReply), 0, 0, 0, 1, 0x80}, "unknown bits 0x80"},
	} {
		_, err := Parse(c.b)
		if err == nil || !errors.Is(err, ErrMalformed) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: err = %v, want ErrMalformed with %q", c.name, err, c.want)
		}
	}
}

func TestReader(t *testing.T) {
	var stream []byte
	for _, f := range samples()[:4] {
		stream = Append(stream, &f)
	}
	r := NewReader(bytes.NewReader(stream))
	for i, want := range samples()[:4] {
		f, err := r.Next()
		if err != nil {
			t.Fatalf("frame %d: %v", i, err)
		}
		if f.Type != want.Type || f.Req != want.Req {
			t.Fatalf("frame %d: %s req %d, want %s req %d", i, f.Type, f.Req, want.Type, want.Req)
		}
	}
	if _, err := r.Next(); err != io.EOF {
		t.Fatalf("after the last frame: %v, want io.EOF", err)
	}

	// An HTTP request is refused on its first four bytes.
	r = NewReader(strings.NewReader("GET / HTTP/1.1\r\n\r\n"))
	if _, err := r.Next(); !errors.Is(err, ErrMalformed) || !strings.Contains(err.Error(), "exceeds the limit of 4096") {
		t.Fatalf("HTTP request: %v", err)
	}
	// A frame cut short.
	b := Append(nil, &Frame{Type: TypeJoin, Req: 1, Group: "orders"})
	r = NewReader(bytes.NewReader(b[:len(b)-1]))
	if _, err := r.Next(); err != io.ErrUnexpectedEOF {
		t.Fatalf("cut frame: %v, want io.ErrUnexpectedEOF", err)
	}
	// The limit rises after the hello.
	big := Append(nil, &Frame{Type: TypeMulticast, Req: 1, Svc: 5, Groups: []string{"g"}, Payload: make([]byte, 10000)})
	r = NewReader(bytes.NewReader(big))
	r.SetMax(MaxFrame)
	if _, err := r.Next(); err != nil {
		t.Fatalf("large frame: %v", err)
	}
}

// FuzzParse checks that Parse never panics and that whatever it accepts
// re-encodes to the same bytes.
func FuzzParse(f *testing.F) {
	for _, s := range samples() {
		f.Add(Append(nil, &s)[LengthSize:])
	}
	f.Add([]byte{})
	f.Add([]byte{0x85, 0xFF})
	f.Fuzz(func(t *testing.T, b []byte) {
		fr, err := Parse(b)
		if err != nil {
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("error %v does not wrap ErrMalformed", err)
			}
			return
		}
		again := Append(nil, &fr)
		if !bytes.Equal(again[LengthSize:], b) {
			t.Fatalf("re-encoding differs:\n in  %x\n out %x", b, again[LengthSize:])
		}
	})
}

// TestReaderBuffered: Buffered says whether the next frame is whole in the
// buffer, so that Next will not block.
func TestReaderBuffered(t *testing.T) {
	a := Append(nil, &Frame{Type: TypePing, Req: 1})
	b := Append(nil, &Frame{Type: TypeMulticast, Req: 2, Svc: 3, Groups: []string{"g"}, Payload: []byte("hello")})
	pr, pw := io.Pipe()
	go func() {
		pw.Write(append(slices.Clone(a), b[:len(b)-1]...)) // the second frame is cut short
		pw.Write(b[len(b)-1:])
		pw.Close()
	}()
	r := NewReader(pr)
	r.SetMax(MaxFrame)
	if r.Buffered() {
		t.Fatal("Buffered before anything was read")
	}
	if f, err := r.Next(); err != nil || f.Req != 1 {
		t.Fatalf("first frame: %+v, %v", f, err)
	}
	if r.Buffered() {
		t.Fatal("Buffered with a frame cut short in the buffer")
	}
	if f, err := r.Next(); err != nil || f.Req != 2 {
		t.Fatalf("second frame: %+v, %v", f, err)
	}
	if r.Buffered() {
		t.Fatal("Buffered with nothing left")
	}
}

// TestReaderNames: a Reader decodes the names of a stream's messages once
// (the frames share them), and still decodes every name right once it
// holds more than it keeps.
func TestReaderNames(t *testing.T) {
	var stream []byte
	for i := range maxNames + 10 {
		stream = Append(stream, &Frame{Type: TypeMessage, Svc: 3, Sender: "n1:app", MsgID: fmt.Sprint(i),
			Groups: []string{"orders", fmt.Sprintf("g%d", i)}, Payload: []byte("x")})
	}
	r := NewReader(bytes.NewReader(stream))
	r.SetMax(MaxFrame)
	var first Frame
	for i := range maxNames + 10 {
		f, err := r.Next()
		if err != nil {
			t.Fatal(err)
		}
		if f.Sender != "n1:app" || f.MsgID != fmt.Sprint(i) || !slices.Equal(f.Groups, []string{"orders", fmt.Sprintf("g%d", i)}) {
			t.Fatalf("frame %d: %+v", i, f)
		}
		if i == 0 {
			first = f
		} else if i == 1 && unsafe.StringData(f.Sender) != unsafe.StringData(first.Sender) {
			t.Fatal("the second frame's sender was allocated again")
		}
	}
}

// TestReaderNamesRecent: names read again soon after (names.recent) and
// later (the map) come back whole and right, each name one string, with
// frames that switch among fewer and more names than the recent names
// kept, names that are prefixes of others and the empty name, and no
// allocation once every name was seen.
func TestReaderNamesRecent(t *testing.T) {
	names := []string{"n1:a", "n1:ab", "n2:a", "n1:a", "n3:load", "n1:a", "n4:x", "n5:y", "n6:z", "n2:a", "", "n1:ab"}
	to := func(i int) string { return names[(i+3)%len(names)] + "!" }
	var stream []byte
	for i, s := range names {
		stream = Append(stream, &Frame{Type: TypeMessage, Flags8: FlagPointToPoint, Svc: 3, Sender: s, To: to(i), MsgID: "m", Payload: []byte("x")})
	}
	tos := make([]string, len(names))
	for i := range names {
		tos[i] = to(i)
	}
	src := bytes.NewReader(nil)
	r := NewReader(src)
	r.SetMax(MaxFrame)
	seen := map[string]*byte{}
	var f Frame
	read := func() {
		src.Reset(stream)
		for i, s := range names {
			if err := r.NextInto(&f); err != nil {
				t.Fatal(err)
			}
			if f.Sender != s || f.To != tos[i] {
				t.Fatalf("frame %d: sender %q, to %q; want %q, %q", i, f.Sender, f.To, s, tos[i])
			}
			if p, ok := seen[s]; ok && p != unsafe.StringData(f.Sender) && s != "" {
				t.Fatalf("frame %d: sender %q allocated again", i, s)
			}
			seen[s] = unsafe.StringData(f.Sender)
		}
	}
	read()
	if allocs := testing.AllocsPerRun(20, read); allocs != 0 {
		t.Errorf("%.1f allocations per %d frames of names seen before, want 0", allocs, len(names))
	}
}

// FuzzReader feeds arbitrary streams to the Reader.
func FuzzReader(f *testing.F) {
	var stream []byte
	for _, s := range samples() {
		stream = Append(stream, &s)
	}
	f.Add(stream)
	f.Add([]byte("GET / HTTP/1.1\r\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		r := NewReader(bytes.NewReader(b))
		r.SetMax(1 << 16)
		for range 1000 {
			if _, err := r.Next(); err != nil {
				return
			}
		}
	})
}

// TestDocExamples keeps the examples of docs/PROTOCOL.md true.
func TestDocExamples(t *testing.T) {
	for _, tc := range []struct {
		f    Frame
		want string
	}{
		{Frame{Type: TypeHello, MinVersion: 1, MaxVersion: 1, Name: "alice"}, "00000013 01 41544c4c 00010001 00000000 05616c696365"},
		{Frame{Type: TypeMulticast, Req: 2, Svc: 5, MsgType: 7, Groups: []string{"g"}, Payload: []byte("hi")}, "00000014 04 00000002 05 0007 00000001 0167 00000002 6869"},
	} {
		if got, want := fmt.Sprintf("%x", Append(nil, &tc.f)), strings.ReplaceAll(tc.want, " ", ""); got != want {
			t.Errorf("%s: %s, want %s", tc.f.Type, got, want)
		}
	}
}

// TestWelcomeVersions: the window fields exist from version 2 on; a
// version-1 Welcome is byte for byte what version-1 peers expect, and a
// version-1 Welcome with the window fields appended is malformed for them.
func TestWelcomeVersions(t *testing.T) {
	v1 := Frame{Type: TypeWelcome, Version: 1, Name: "n:c", Node: "n", MaxMessage: 1, MaxFrame: 2, QueueFrames: 3, WindowMsgs: 64, WindowBytes: 1024}
	b1 := Append(nil, &v1)
	v2 := v1
	v2.Version = 2
	b2 := Append(nil, &v2)
	if len(b2) != len(b1)+8 {
		t.Fatalf("version 2 Welcome is %d bytes, version 1 %d: want 8 more", len(b2), len(b1))
	}
	got, err := Parse(b1[LengthSize:])
	if err != nil || got.WindowMsgs != 0 || got.WindowBytes != 0 {
		t.Fatalf("version 1 Welcome parsed as %+v, %v: want no window", got, err)
	}
	got, err = Parse(b2[LengthSize:])
	if err != nil || got.WindowMsgs != 64 || got.WindowBytes != 1024 {
		t.Fatalf("version 2 Welcome parsed as %+v, %v: want window 64 msgs 1024 bytes", got, err)
	}
	mixed := append([]byte(nil), b2[LengthSize:]...)
	mixed[1+4+1] = 1 // version 1 with the window fields after queue_frames
	if _, err := Parse(mixed); err == nil {
		t.Fatal("a version 1 Welcome with trailing window fields parsed")
	}
}

// TestReaderSplits reads every sample, and frames larger than the
// buffered reader's buffer, from streams cut into reads of every size:
// Next parses a frame in the buffer when it is there whole, and copies it
// out otherwise; both give the same frames.
func TestReaderSplits(t *testing.T) {
	want := samples()
	for _, size := range []int{100, 70 << 10, MaxFrame - 64} {
		want = append(want, Frame{Type: TypeMulticast, Req: 9, Svc: 5, Groups: []string{"g"}, Payload: bytes.Repeat([]byte{7}, size)})
	}
	var stream []byte
	for i := range want {
		stream = Append(stream, &want[i])
	}
	for _, chunk := range []int{1, 3, 1000, 64 << 10, len(stream)} {
		r := NewReader(&chunkReader{b: stream, n: chunk})
		r.SetMax(MaxFrame)
		for i := range want {
			f, err := r.Next()
			if err != nil {
				t.Fatalf("reads of %d bytes, frame %d: %v", chunk, i, err)
			}
			if got, w := normalize(f), normalize(want[i]); !reflect.DeepEqual(got, w) {
				t.Fatalf("reads of %d bytes, frame %d (%s): got %+v, want %+v", chunk, i, w.Type, got.Type, w.Type)
			}
		}
		if _, err := r.Next(); err != io.EOF {
			t.Fatalf("reads of %d bytes, after the last frame: %v, want io.EOF", chunk, err)
		}
	}
}

// chunkReader returns at most n bytes per Read.
type chunkReader struct {
	b []byte
	n int
}

func (c *chunkReader) Read(p []byte) (int, error) {
	if len(c.b) == 0 {
		return 0, io.EOF
	}
	k := copy(p[:min(len(p), c.n)], c.b)
	c.b = c.b[k:]
	return k, nil
}

// BenchmarkReaderNext reads 1 KiB multicasts, many to a read, as the
// agent's session reader does.
func BenchmarkReaderNext(b *testing.B) {
	f := Frame{Type: TypeMulticast, Req: 1, Svc: 5, Groups: []string{"bench"}, Payload: make([]byte, 1024)}
	var stream []byte
	for range 64 {
		stream = Append(stream, &f)
	}
	benchReadStream(b, stream, 64)
}

// benchReadStream reads stream's n frames over and over with one Reader
// into one Frame, as the agent's session reader and a client read theirs
// (NextInto).
func benchReadStream(b *testing.B, stream []byte, n int) {
	src := bytes.NewReader(nil)
	r := NewReader(src)
	r.SetMax(MaxFrame)
	b.SetBytes(int64(len(stream) / n))
	b.ReportAllocs()
	var f Frame
	for i := 0; b.Loop(); i++ {
		if i%n == 0 {
			src.Reset(stream)
		}
		if err := r.NextInto(&f); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkReaderNextMessage reads 1 KiB deliveries, many to a read, as a
// client does (its reader shares no lists: an application may keep a
// message's groups).
func BenchmarkReaderNextMessage(b *testing.B) {
	var stream []byte
	for i := range 64 {
		stream = Append(stream, &Frame{Type: TypeMessage, Svc: 5, Sender: "n1:load", Seq: uint64(i), Order: uint64(i),
			MsgID: fmt.Sprintf("n1/1796555465123456789/%d", 100000+i), Groups: []string{"bench"}, Payload: make([]byte, 1024)})
	}
	benchReadStream(b, stream, 64)
}

// TestMsgIDBytes: a Message frame with MsgIDBytes encodes as one with the
// same MsgID.
func TestMsgIDBytes(t *testing.T) {
	f := Frame{Type: TypeMessage, Svc: 5, Sender: "n1:a", Seq: 3, Order: 4, MsgID: "n1/7/3", Groups: []string{"g"}, Payload: []byte("p")}
	want := Append(nil, &f)
	f.MsgID, f.MsgIDBytes = "", []byte("n1/7/3")
	if got := Append(nil, &f); !bytes.Equal(got, want) {
		t.Fatalf("with MsgIDBytes: %x, want %x", got, want)
	}
}

// TestReaderShareLists: with SetShareLists, consecutive frames with the
// same groups share one slice and cost no allocation; other groups get a
// slice of their own; without it every frame has its own.
func TestReaderShareLists(t *testing.T) {
	frame := func(groups ...string) []byte {
		return Append(nil, &Frame{Type: TypeMulticast, Req: 1, Svc: 5, Groups: groups, Payload: []byte("p")})
	}
	var stream []byte
	for _, gs := range [][]string{{"a", "b"}, {"a", "b"}, {"a", "c"}, {"a", "c"}, {"a"}} {
		stream = append(stream, frame(gs...)...)
	}
	read := func(share bool) [][]string {
		r := NewReader(bytes.NewReader(stream))
		r.SetShareLists(share)
		var out [][]string
		for range 5 {
			f, err := r.Next()
			if err != nil {
				t.Fatal(err)
			}
			out = append(out, f.Groups)
		}
		return out
	}
	same := func(a, b []string) bool { return unsafe.SliceData(a) == unsafe.SliceData(b) }
	gs := read(true)
	want := [][]string{{"a", "b"}, {"a", "b"}, {"a", "c"}, {"a", "c"}, {"a"}}
	if !reflect.DeepEqual(gs, want) {
		t.Fatalf("shared: %v, want %v", gs, want)
	}
	if !same(gs[0], gs[1]) || same(gs[1], gs[2]) || !same(gs[2], gs[3]) || same(gs[3], gs[4]) {
		t.Error("shared: the same groups do not share one slice, or other groups do")
	}
	if gs := read(false); same(gs[0], gs[1]) || !reflect.DeepEqual(gs, want) {
		t.Errorf("not shared: %v, one slice for two frames %v", gs, same(gs[0], gs[1]))
	}

	one := frame("g")
	src := bytes.NewReader(nil)
	r := NewReader(src)
	r.SetShareLists(true)
	if allocs := testing.AllocsPerRun(100, func() {
		src.Reset(one)
		if _, err := r.Next(); err != nil {
			t.Fatal(err)
		}
	}); allocs != 0 {
		t.Errorf("%.1f allocations per multicast to the same group, want 0", allocs)
	}
}

// TestReaderMsgIDs: a Reader's messages carry their ids whole and
// unchanged by the frames read after them, ids up to the longest a str8
// holds included, and cost about one allocation per block of ids, not
// one per message.
func TestReaderMsgIDs(t *testing.T) {
	id := func(i int) string {
		if i%50 == 49 {
			return strings.Repeat(strconv.Itoa(i%10), 200+i%56) // up to 255 bytes
		}
		return fmt.Sprintf("n%d/1796555465123456789/%d", i%3, i)
	}
	var stream []byte
	const n = 1000
	for i := range n {
		stream = Append(stream, &Frame{Type: TypeMessage, Svc: 5, Sender: "n1:a", Seq: uint64(i), MsgID: id(i), Groups: []string{"g"}, Payload: []byte("p")})
	}
	r := NewReader(&chunkReader{b: stream, n: 4096})
	var got []string
	for i := range n {
		f, err := r.Next()
		if err != nil {
			t.Fatalf("frame %d: %v", i, err)
		}
		got = append(got, f.MsgID)
	}
	for i, s := range got {
		if s != id(i) {
			t.Fatalf("message %d: id %q after reading them all, want %q", i, s, id(i))
		}
	}

	one := Append(nil, &Frame{Type: TypeMessage, Svc: 5, Sender: "n1:a", Seq: 1, MsgID: id(1), Groups: []string{"g"}, Payload: []byte("p")})
	src := bytes.NewReader(nil)
	r = NewReader(src)
	r.SetShareLists(true) // the groups cost no allocation either
	allocs := testing.AllocsPerRun(1000, func() {
		src.Reset(one)
		if _, err := r.Next(); err != nil {
			t.Fatal(err)
		}
	})
	if perBlock := float64(idBlock) / float64(len(id(1))); allocs > 1.5/perBlock {
		t.Errorf("%.3f allocations per message, want about one per %.0f (a block of ids)", allocs, perBlock)
	}
}

// TestNextIntoOverwrites: NextInto leaves nothing of the frame read into
// the same Frame before: each frame comes out as Parse makes it, whatever
// fields the one before set (a reader reuses one Frame for all its
// frames: the agent's session reader, a client).
func TestNextIntoOverwrites(t *testing.T) {
	frames := []Frame{
		{Type: TypeMessage, Svc: 5, Sender: "n1:a", Seq: 3, Order: 4, MsgID: "n1/7/3", Groups: []string{"g"}, Payload: []byte("payload")},
		{Type: TypeOK, Req: 9, Seq: 3},
		{Type: TypeView, View: View{Group: "g", ID: "v1", Members: []string{"n1:a"}, Joined: []string{"n1:a"}}},
		{Type: TypeError, Req: 10, Code: 4, Op: TypeJoin, Group: "h", Text: "no"},
		{Type: TypeMulticast, Req: 11, Svc: 4, Groups: []string{"g", "h"}, Payload: []byte("x")},
		{Type: TypeLeft, Group: "g"},
	}
	var stream []byte
	for i := range frames {
		stream = Append(stream, &frames[i])
	}
	r := NewReader(bytes.NewReader(stream))
	r.SetMax(MaxFrame)
	var f Frame
	for i := range frames {
		if err := r.NextInto(&f); err != nil {
			t.Fatalf("frame %d: %v", i, err)
		}
		want, err := Parse(Append(nil, &frames[i])[LengthSize:])
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(f, want) {
			t.Errorf("frame %d (%s): NextInto made %+v, want %+v", i, frames[i].Type, f, want)
		}
	}
	if err := r.NextInto(&f); err != io.EOF || !reflect.DeepEqual(f, Frame{}) {
		t.Errorf("at the end: %v and %+v, want io.EOF and a zero Frame", err, f)
	}
}
