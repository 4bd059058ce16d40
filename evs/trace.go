package evs

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
)

// Event kinds, the "ev" field of a trace line.
const (
	EvInstall = "install" // a configuration (regular or transitional) was installed
	EvSend    = "send"    // the application submitted a message
	EvDeliver = "deliver" // a message was delivered to the application
	EvView    = "view"    // a group view was delivered
)

// Configuration kinds, the "conf.kind" field of an install line.
const (
	KindRegular      = "reg"
	KindTransitional = "trans"
)

// Service levels, the "svc" field of send and deliver lines.
const (
	SvcUnreliable = "unreliable"
	SvcReliable   = "reliable"
	SvcFIFO       = "fifo"
	SvcCausal     = "causal"
	SvcAgreed     = "agreed"
	SvcSafe       = "safe"
)

// Group view departure reasons.
const (
	ReasonJoin       = "join"
	ReasonLeave      = "leave"
	ReasonDisconnect = "disconnect"
	ReasonNetwork    = "network"
)

// Conf is a configuration as it appears in an install line.
type Conf struct {
	ID      string   `json:"id"`
	Kind    string   `json:"kind"`
	Members []string `json:"members"`
}

// View is a group view as it appears in a view line. Members, joined and
// left are written also when empty ([]), as EVS.md shows them.
type View struct {
	ID           string   `json:"id"`
	Members      []string `json:"members"`
	Joined       []string `json:"joined"`
	Left         []string `json:"left"`
	Reason       string   `json:"reason,omitempty"`
	Transitional bool     `json:"transitional"`
}

// MarshalJSON encodes the view with empty lists as [], never null.
func (v View) MarshalJSON() ([]byte, error) {
	type plain View
	w := plain(v)
	for _, l := range []*[]string{&w.Members, &w.Joined, &w.Left} {
		if *l == nil {
			*l = []string{}
		}
	}
	return json.Marshal(w)
}

// Event is one line of a trace. Which fields are set depends on Ev:
//
//   - install: Conf (ID, Kind and Members);
//   - send, deliver: ConfID, Msg, Svc, Groups, Hash; Deps on send (optional);
//     Order on deliver of Agreed and Safe messages;
//   - view: Group and View.
//
// In JSON, "conf" is an object on install lines and the configuration id
// (a string) on send and deliver lines, exactly as EVS.md shows.
type Event struct {
	Ev     string
	Node   string
	Inc    uint64
	Domain string

	Conf   *Conf  // install only
	ConfID string // send and deliver

	Msg    string
	Svc    string
	Groups []string
	Hash   string
	Deps   []string
	Order  uint64

	Group string
	View  *View
}

type wireEvent struct {
	Ev     string          `json:"ev"`
	Node   string          `json:"node"`
	Inc    uint64          `json:"inc"`
	Domain string          `json:"domain"`
	Conf   json.RawMessage `json:"conf,omitempty"`
	Msg    string          `json:"msg,omitempty"`
	Svc    string          `json:"svc,omitempty"`
	Groups []string        `json:"groups,omitempty"`
	Hash   string          `json:"hash,omitempty"`
	Deps   []string        `json:"deps,omitempty"`
	Order  uint64          `json:"order,omitempty"`
	Group  string          `json:"group,omitempty"`
	View   *View           `json:"view,omitempty"`
}

// MarshalJSON encodes the event as one trace line (without the newline).
func (e Event) MarshalJSON() ([]byte, error) {
	w := wireEvent{
		Ev: e.Ev, Node: e.Node, Inc: e.Inc, Domain: e.Domain,
		Msg: e.Msg, Svc: e.Svc, Groups: e.Groups, Hash: e.Hash, Deps: e.Deps,
		Order: e.Order, Group: e.Group, View: e.View,
	}
	var err error
	switch {
	case e.Conf != nil:
		w.Conf, err = json.Marshal(e.Conf)
	case e.ConfID != "":
		w.Conf, err = json.Marshal(e.ConfID)
	}
	if err != nil {
		return nil, err
	}
	return json.Marshal(w)
}

// UnmarshalJSON decodes one trace line.
func (e *Event) UnmarshalJSON(b []byte) error {
	var w wireEvent
	if err := json.Unmarshal(b, &w); err != nil {
		return err
	}
	*e = Event{
		Ev: w.Ev, Node: w.Node, Inc: w.Inc, Domain: w.Domain,
		Msg: w.Msg, Svc: w.Svc, Groups: w.Groups, Hash: w.Hash, Deps: w.Deps,
		Order: w.Order, Group: w.Group, View: w.View,
	}
	conf := bytes.TrimSpace(w.Conf)
	switch {
	case len(conf) == 0:
	case conf[0] == '"':
		return json.Unmarshal(conf, &e.ConfID)
	default:
		e.Conf = new(Conf)
		if err := json.Unmarshal(conf, e.Conf); err != nil {
			return err
		}
		e.ConfID = e.Conf.ID
	}
	return nil
}

// Writer appends events to an io.Writer as JSON lines.
type Writer struct {
	w   io.Writer
	buf []byte
}

// NewWriter returns a Writer that writes one JSON line per event to w.
func NewWriter(w io.Writer) *Writer { return &Writer{w: w} }

// Write appends one event.
func (t *Writer) Write(e Event) error {
	t.buf = append(e.AppendJSON(t.buf[:0]), '\n')
	_, err := t.w.Write(t.buf)
	return err
}

// ReadFile reads the trace in file path (Read). A file that does not
// exist is an error that errors.Is matches with fs.ErrNotExist.
func ReadFile(path string) ([]Event, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("evs: %w", err)
	}
	defer f.Close()
	return Read(f, path)
}

// Read parses a trace: one JSON event per line; blank lines are skipped.
// name is used in error messages (a file name, say). Lines are decoded as
// json.Unmarshal decodes them (usual lines by a faster path that gives
// the same result).
func Read(r io.Reader, name string) ([]Event, error) {
	var evs []Event
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64*1024), 16*1024*1024)
	lp := newLineParser()
	line := 0
	for sc.Scan() {
		line++
		b := bytes.TrimSpace(sc.Bytes())
		if len(b) == 0 {
			continue
		}
		e, ok := lp.parse(b)
		if !ok {
			e = Event{}
			if err := json.Unmarshal(b, &e); err != nil {
				return nil, fmt.Errorf("evs: %s:%d: not a trace event: %w", name, line, err)
			}
		}
		evs = append(evs, e)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("evs: read %s: %w", name, err)
	}
	return evs, nil
}
