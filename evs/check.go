package evs

import (
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"
)

// Proc is a process for checking: one incarnation of a node. A node that
// restarts comes back with a higher incarnation and is a new process; the
// old one counts as failed.
type Proc struct {
	Node string
	Inc  uint64
}

// String formats the process as "node/inc", as message ids and violation
// messages show it.
func (p Proc) String() string { return p.Node + "/" + strconv.FormatUint(p.Inc, 10) }

// ParseProc parses "node/inc", the form Proc.String produces.
func ParseProc(s string) (Proc, error) {
	i := strings.LastIndexByte(s, '/')
	if i <= 0 {
		return Proc{}, fmt.Errorf("evs: process %q: want node/incarnation", s)
	}
	inc, err := strconv.ParseUint(s[i+1:], 10, 64)
	if err != nil {
		return Proc{}, fmt.Errorf("evs: process %q: incarnation is not a number", s)
	}
	return Proc{Node: s[:i], Inc: inc}, nil
}

// DefaultMaxPerProperty is how many violations of one property Check lists
// when Options.MaxPerProperty is zero.
const DefaultMaxPerProperty = 20

// Options tell Check what it cannot see in the traces.
type Options struct {
	// Failed lists processes known to have crashed (the simulator or the
	// test harness knows which ones it killed). A process whose node has a
	// later incarnation in the traces counts as failed whether or not it is
	// listed. A failed process is exempt from the "must have delivered"
	// obligations (self-delivery, Safe, failure atomicity, joining a
	// transitional configuration) in its last configuration only: having
	// installed a later configuration shows it did not fail in an earlier one.
	Failed map[Proc]bool

	// Quiescent says the run ended after all traffic settled. Then the
	// obligations also apply to each live process's last configuration
	// (and live processes that end in the same configuration must have
	// delivered the same messages there). When false, a process's last
	// configuration is exempt: the run may have stopped mid-flight.
	Quiescent bool

	// MaxPerProperty caps the violations listed per property; the last one
	// listed carries the number left out in Violation.More. Zero means
	// DefaultMaxPerProperty; a negative value lists everything.
	MaxPerProperty int

	// DomainOrder says the order fields of federation domains (fed/...)
	// are domain-wide sequence numbers (localring.DomainOrder), which must
	// grow along each process's deliveries across configurations (EVS.md
	// property 9). When false, the default, they are judged like a ring
	// domain's, per sending configuration: the traces of a bare
	// federation ring carry ring positions (localring.Order.Position).
	DomainOrder bool
}

func (o Options) maxPer() int {
	if o.MaxPerProperty == 0 {
		return DefaultMaxPerProperty
	}
	return o.MaxPerProperty
}

// Property names one property of EVS.md: its number and short name, as in
// "6 agreed order".
type Property struct {
	Num  string
	Name string
}

// String returns "<number> <name>".
func (p Property) String() string { return p.Num + " " + p.Name }

// The properties Check and CheckConverged evaluate, numbered as in EVS.md.
// The group-view rules, which EVS.md states without numbers, are G.1–G.4.
var (
	NoCreation       = Property{"1.1", "no creation"}
	NoDuplication    = Property{"1.2", "no duplication"}
	DeliveryConf     = Property{"1.3", "delivery configuration"}
	LocalSanity      = Property{"1.4", "local sanity"}
	SelfInclusion    = Property{"2.1", "self-inclusion"}
	ConfAgreement    = Property{"2.2", "configuration agreement"}
	ConfOrder        = Property{"2.3", "monotonic configurations"}
	TransShape       = Property{"2.4", "transitional shape"}
	Liveness         = Property{"2.5", "liveness"}
	SelfDelivery     = Property{"3", "self-delivery"}
	FailureAtomicity = Property{"4", "failure atomicity"}
	CausalOrder      = Property{"5", "causal order"}
	AgreedOrder      = Property{"6", "agreed order"}
	OrderField       = Property{"6", "order field"}
	SafeDelivery     = Property{"7", "safe delivery"}
	FIFOOrder        = Property{"8", "FIFO order"}
	ViewAgreement    = Property{"G.1", "view agreement"}
	ViewOrder        = Property{"G.2", "view order"}
	ViewTransitional = Property{"G.3", "transitional view"}
	ViewReason       = Property{"G.4", "view reason"}
)

// Properties lists every property, in the order violations are sorted.
func Properties() []Property {
	return []Property{NoCreation, NoDuplication, DeliveryConf, LocalSanity,
		SelfInclusion, ConfAgreement, ConfOrder, TransShape, Liveness,
		SelfDelivery, FailureAtomicity, CausalOrder, AgreedOrder, OrderField,
		SafeDelivery, FIFOOrder,
		ViewAgreement, ViewOrder, ViewTransitional, ViewReason}
}

var propertyRank = rankProperties()

func rankProperties() map[Property]int {
	all := Properties()
	m := make(map[Property]int, len(all))
	for i, p := range all {
		m[p] = i
	}
	return m
}

// Violation is one property that does not hold.
type Violation struct {
	Property Property
	Domain   string
	Procs    []Proc // the processes involved, the one at fault first
	Conf     string // the configuration id, "" when none applies
	Msg      string // the message id (or group view id), "" when none applies
	Detail   string // what happened, naming the processes, configuration and message

	// More is set on the last violation Check lists for a property when it
	// left others out: how many more there are.
	More int
}

// String returns the violation as one line, e.g.
//
//	6 agreed order: site/fra conf r:12:a: a/1 delivered a/1/7 before b/1/3 but b/1 delivered b/1/3 before a/1/7
func (v Violation) String() string {
	var b strings.Builder
	b.WriteString(v.Property.String())
	b.WriteString(": ")
	if v.Domain != "" {
		b.WriteString(v.Domain)
	} else {
		b.WriteString("(no domain)")
	}
	if v.Conf != "" {
		b.WriteString(" conf ")
		b.WriteString(v.Conf)
	}
	b.WriteString(": ")
	b.WriteString(v.Detail)
	return b.String()
}

// Count returns the number of violations vs stands for, counting the ones
// left out (Violation.More).
func Count(vs []Violation) int {
	n := len(vs)
	for _, v := range vs {
		n += v.More
	}
	return n
}

// Report writes the violations one per line and, after the last one listed
// for a property that had more, a line saying how many were left out.
func Report(w io.Writer, vs []Violation) error {
	for _, v := range vs {
		if _, err := fmt.Fprintln(w, v.String()); err != nil {
			return err
		}
		if v.More > 0 {
			if _, err := fmt.Fprintf(w, "%s: %d more not shown\n", v.Property, v.More); err != nil {
				return err
			}
		}
	}
	return nil
}

// Error is the error AsError returns: the violations of a check.
type Error struct {
	Violations []Violation
}

// Error says how many violations there are and shows the first.
func (e *Error) Error() string {
	n := Count(e.Violations)
	s := "s"
	if n == 1 {
		s = ""
	}
	return fmt.Sprintf("evs: %d violation%s; first: %s", n, s, e.Violations[0])
}

// AsError returns nil when vs is empty and an *Error holding vs otherwise,
// for callers that want a check to be an error (tests, say).
func AsError(vs []Violation) error {
	if len(vs) == 0 {
		return nil
	}
	return &Error{Violations: vs}
}

// Summary counts what a trace holds.
type Summary struct {
	Events    int
	Processes int // distinct (node, incarnation) pairs
	Domains   int
}

// Summarize counts the events, processes and domains of a trace.
func Summarize(events []Event) Summary {
	procs := make(map[Proc]struct{})
	domains := make(map[string]struct{})
	for i := range events {
		procs[Proc{events[i].Node, events[i].Inc}] = struct{}{}
		domains[events[i].Domain] = struct{}{}
	}
	return Summary{Events: len(events), Processes: len(procs), Domains: len(domains)}
}

// String returns e.g. "12034 events from 5 processes in 2 domains".
func (s Summary) String() string {
	return fmt.Sprintf("%s from %s in %s", plural(s.Events, "event"), plural(s.Processes, "process"), plural(s.Domains, "domain"))
}

func plural(n int, what string) string {
	switch {
	case n == 1:
		return "1 " + what
	case strings.HasSuffix(what, "s"):
		return strconv.Itoa(n) + " " + what + "es"
	default:
		return strconv.Itoa(n) + " " + what + "s"
	}
}

// Check evaluates the safety properties 1.1–8 of EVS.md and the group-view
// rules over the traces of a run, domain by domain, and returns the
// violations sorted by property, domain, configuration and message, with at
// most Options.MaxPerProperty per property. The events of each process must
// appear in the order the process wrote them; events of different processes
// may interleave in any way (one file per node, concatenated, is fine).
// Liveness (2.5) is CheckConverged's.
func Check(events []Event, opts Options) []Violation {
	c := newChecker(events, opts)
	for _, d := range c.splitDomains() {
		d.check()
	}
	return finish(c.out, opts.maxPer())
}

// finish sorts, removes duplicates and caps the violations per property.
func finish(vs []Violation, max int) []Violation {
	sort.SliceStable(vs, func(i, j int) bool { return violationLess(&vs[i], &vs[j]) })
	out := vs[:0]
	count := make(map[Property]int)
	var last *Violation
	for i := range vs {
		v := vs[i]
		if last != nil && sameViolation(last, &v) {
			continue
		}
		count[v.Property]++
		if max >= 0 && count[v.Property] > max {
			out[len(out)-1].More++
			// Keep the comparison for duplicates against the one dropped.
			cp := v
			last = &cp
			continue
		}
		out = append(out, v)
		last = &out[len(out)-1]
	}
	return out
}

func sameViolation(a, b *Violation) bool {
	return a.Property == b.Property && a.Domain == b.Domain && a.Conf == b.Conf && a.Msg == b.Msg &&
		a.Detail == b.Detail && procsKey(a.Procs) == procsKey(b.Procs)
}

func violationLess(a, b *Violation) bool {
	if ra, rb := propertyRank[a.Property], propertyRank[b.Property]; ra != rb {
		return ra < rb
	}
	if a.Domain != b.Domain {
		return a.Domain < b.Domain
	}
	if a.Conf != b.Conf {
		return natLess(a.Conf, b.Conf)
	}
	if a.Msg != b.Msg {
		return natLess(a.Msg, b.Msg)
	}
	if pa, pb := procsKey(a.Procs), procsKey(b.Procs); pa != pb {
		return natLess(pa, pb)
	}
	return a.Detail < b.Detail
}

func procsKey(ps []Proc) string {
	var b strings.Builder
	for i, p := range ps {
		if i > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(p.String())
	}
	return b.String()
}

// natLess orders strings with their runs of digits compared as numbers, so
// that r:9:a sorts before r:10:a and a/1/9 before a/1/10.
func natLess(a, b string) bool {
	for a != "" && b != "" {
		da, db := isDigit(a[0]), isDigit(b[0])
		if da && db {
			na, nb := digitRun(a), digitRun(b)
			ta, tb := strings.TrimLeft(a[:na], "0"), strings.TrimLeft(b[:nb], "0")
			if len(ta) != len(tb) {
				return len(ta) < len(tb)
			}
			if ta != tb {
				return ta < tb
			}
			a, b = a[na:], b[nb:]
			continue
		}
		if a[0] != b[0] {
			return a[0] < b[0]
		}
		a, b = a[1:], b[1:]
	}
	return len(a) < len(b)
}

func isDigit(c byte) bool { return '0' <= c && c <= '9' }

func digitRun(s string) int {
	n := 0
	for n < len(s) && isDigit(s[n]) {
		n++
	}
	return n
}
