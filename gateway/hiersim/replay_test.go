package hiersim

import (
	"bytes"
	"flag"
	"fmt"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"
	"unsafe"
)

var replay = flag.String("hiersim.replay", "", "with TestReplay: the options of the run to replay, as a failed run's replay line prints them (seed: -hiersim.seed)")

// optField is one field of Options that shapes a run, as the replay line
// names it.
type optField struct {
	name string
	ptr  any // *string, *Fault, *Packets, *time.Duration, *int, *bool, *corruption or *viewBreak
}

// replayFields lists every field of o that shapes a run (every field but
// Log), by the name the replay line gives it. TestReplayCoversOptions
// fails when a field of Options is not here.
func replayFields(o *Options) []optField {
	return []optField{
		{"topology", &o.Topology},
		{"domain", &o.Domain},
		{"fault", &o.Fault},
		{"form", &o.Form},
		{"load", &o.Load},
		{"settle", &o.Settle},
		{"rate", &o.Rate},
		{"step", &o.Step},
		{"outage", &o.Outage},
		{"bridge-only", &o.BridgeOnly},
		{"corrupt", &o.corrupt},
		{"break-view", &o.breakView},
		{"stall.after", &o.stall.after},
		{"stall.d", &o.stall.d},
		{"kill-taker", &o.killTaker},
		{"victim", &o.victim},
		{"cut-as-dies", &o.cutAsDies.on},
		{"cut-as-dies.after", &o.cutAsDies.after},
		{"recut.after", &o.recut.after},
		{"recut.d", &o.recut.d},
		{"isolate.after", &o.isolate.after},
		{"isolate.d", &o.isolate.d},
		{"hide", &o.hide.on},
		{"hide.ordered", &o.hide.ordered},
		{"trans-kill", &o.transKill},
		{"cut-other", &o.cutOther},
		{"deaf-third", &o.deafThird},
		{"handover", &o.handover.on},
		{"handover.cut", &o.handover.cut},
		{"log-entries", &o.logEntries},
		{"agreed-only", &o.agreedOnly},
		{"downs", &o.downs},
		{"stray-cut", &o.strayCut},
		{"elide", &o.Elide},
		{"packets", &o.Packets},
		{"persistent", &o.Persistent},
		{"persistent-victim", &o.persistentVictim},
		{"steady-within", &o.steadyWithin},
		{"starve.run.min", &o.starve.run.min},
		{"starve.run.max", &o.starve.run.max},
		{"starve.pause.min", &o.starve.pause.min},
		{"starve.pause.max", &o.starve.pause.max},
		{"starve.site", &o.starve.site},
		{"starve.together", &o.starve.together},
	}
}

// replayArgs writes o's fields that shape a run, those not zero (the
// topology when it is not topologyFile), as name=value separated by
// spaces: what -hiersim.replay takes.
func replayArgs(o Options) string {
	var out []string
	for _, f := range replayFields(&o) {
		var v string
		switch p := f.ptr.(type) {
		case *string:
			if *p == "" || f.name == "topology" && *p == topologyFile {
				continue
			}
			v = *p
		case *Fault:
			if *p == FaultNone {
				continue
			}
			v = string(*p)
		case *Packets:
			if *p == PacketsOff {
				continue
			}
			v = string(*p)
		case *time.Duration:
			if *p == 0 {
				continue
			}
			v = p.String()
		case *int:
			if *p == 0 {
				continue
			}
			v = strconv.Itoa(*p)
		case *bool:
			if !*p {
				continue
			}
			v = "true"
		case *corruption:
			if *p == corruptNone {
				continue
			}
			v = strconv.Itoa(int(*p))
		case *viewBreak:
			if *p == viewBreakNone {
				continue
			}
			v = strconv.Itoa(int(*p))
		default:
			panic(fmt.Sprintf("hiersim: replay field %s of type %T", f.name, f.ptr))
		}
		out = append(out, f.name+"="+v)
	}
	return strings.Join(out, " ")
}

// parseReplay reads replayArgs' output back into the Options of the run
// (Topology topologyFile unless it names another).
func parseReplay(s string) (Options, error) {
	o := Options{Topology: topologyFile}
	fields := replayFields(&o)
	for _, kv := range strings.Fields(s) {
		name, v, ok := strings.Cut(kv, "=")
		i := -1
		for j, f := range fields {
			if f.name == name {
				i = j
			}
		}
		if !ok || i < 0 {
			return Options{}, fmt.Errorf("hiersim: replay option %q is not name=value with a name of replayFields", kv)
		}
		var err error
		switch p := fields[i].ptr.(type) {
		case *string:
			*p = v
		case *Fault:
			*p = Fault(v)
		case *Packets:
			*p = Packets(v)
		case *time.Duration:
			*p, err = time.ParseDuration(v)
		case *int:
			*p, err = strconv.Atoi(v)
		case *bool:
			*p, err = strconv.ParseBool(v)
		case *corruption:
			var n int
			n, err = strconv.Atoi(v)
			*p = corruption(n)
		case *viewBreak:
			var n int
			n, err = strconv.Atoi(v)
			*p = viewBreak(n)
		}
		if err != nil {
			return Options{}, fmt.Errorf("hiersim: replay option %s: %v", kv, err)
		}
	}
	return o, nil
}

// replayLine is the command that replays seed's run with o.
func replayLine(seed uint64, o Options) string {
	return fmt.Sprintf("go test ./gateway/hiersim -count=1 -v -run '^TestReplay$' -hiersim.seed=%d -hiersim.replay='%s' -hiersim.log=/tmp/hiersim.log", seed, replayArgs(o))
}

// TestReplay replays the run a failed run's replay line names (report):
// seed -hiersim.seed with the options of -hiersim.replay, under every
// check a test's run has (report), with its log in -hiersim.log. Without
// -hiersim.replay it checks that a replay writes the log of the run it
// replays, byte for byte: a run with every option that has shaped a run
// no replay reproduced before (the refused and lost catch-up's:
// cutAsDies, recut and logEntries; isolate, which its Again follows)
// is replayed from replayArgs' line.
func TestReplay(t *testing.T) {
	parallel(t)
	if *replay != "" {
		o, err := parseReplay(*replay)
		if err != nil {
			t.Fatal(err)
		}
		o.Log = openLog(t)
		t.Logf("replaying seed %d: %s", *first, replayArgs(o))
		checkedRun(t, *first, o)
		return
	}
	o := cutAsDiesOptions(200*time.Millisecond, 10*time.Second, Options{logEntries: refusedLog})
	o.recut.after, o.recut.d = 350*time.Millisecond, 5*time.Second
	o.isolate.after, o.isolate.d = 100*time.Millisecond, time.Second
	const seed = 2
	var orig, again bytes.Buffer
	o.Log = &orig
	if _, err := Run(seed, o); err != nil {
		t.Fatal(err)
	}
	line := replayLine(seed, o)
	args := line[strings.Index(line, "-hiersim.replay='")+len("-hiersim.replay='"):]
	args = args[:strings.IndexByte(args, '\'')]
	r, err := parseReplay(args)
	if err != nil {
		t.Fatal(err)
	}
	r.Log = &again
	if _, err := Run(seed, r); err != nil {
		t.Fatal(err)
	}
	if orig.Len() == 0 {
		t.Fatal("the run wrote no log")
	}
	if !bytes.Equal(orig.Bytes(), again.Bytes()) {
		t.Errorf("the replay of %s wrote another log than the run: %s", line, firstDiff(orig.Bytes(), again.Bytes()))
	}
	t.Logf("%s: %d log lines, byte-identical", line, bytes.Count(orig.Bytes(), []byte("\n")))
}

// TestReplayCoversOptions sets every field of Options but Log to a value
// of its own and reads replayArgs' line back: a field that shapes a run
// and that the replay line leaves out (a field added to Options and not to
// replayFields) fails it.
func TestReplayCoversOptions(t *testing.T) {
	parallel(t)
	var o Options
	k := 0
	var fill func(v reflect.Value, path string)
	fill = func(v reflect.Value, path string) {
		for i := range v.NumField() {
			f, sf := v.Field(i), v.Type().Field(i)
			name := strings.TrimPrefix(path+"."+sf.Name, ".")
			if name == "Log" {
				continue
			}
			f = reflect.NewAt(f.Type(), unsafe.Pointer(f.UnsafeAddr())).Elem()
			k++
			switch f.Kind() {
			case reflect.Struct:
				fill(f, name)
			case reflect.String:
				f.SetString(fmt.Sprintf("v%d", k))
			case reflect.Bool:
				f.SetBool(true)
			case reflect.Int, reflect.Int64:
				f.SetInt(int64(k))
			default:
				t.Fatalf("Options.%s: a field of kind %s the test cannot fill", name, f.Kind())
			}
		}
	}
	fill(reflect.ValueOf(&o).Elem(), "")
	args := replayArgs(o)
	got, err := parseReplay(args)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, o) {
		t.Errorf("Options with every field set do not come back from their replay line %q:\n\tgot  %+v\n\twant %+v", args, got, o)
	}
}
