package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	atollbench "github.com/atoll-gcs/atoll/bench"
)

// CompareMain is the command line of tests/bench/cmd/compare.
func CompareMain(args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	if handled, err := Main(args, stdin, stdout); handled {
		return err
	}
	fs := flag.NewFlagSet("compare", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var (
		o        Options
		nodes    = fs.String("nodes", "3,5", "ring sizes, comma-separated (3,5,9 for the whole matrix)")
		sizes    = fs.String("sizes", "1024,8192", "message sizes in bytes, comma-separated")
		sendersF = fs.String("senders", "all,one", "load shapes, comma-separated: all (every node sends), one (node 1 sends)")
		secF     = fs.String("security", "plain,encrypted", "packet protection, comma-separated: plain, encrypted")
		work     = fs.String("work", "", "working directory for configs, logs and samples (default: a new temporary directory, removed unless -keep)")
		keep     = fs.Bool("keep", false, "keep the working directory")
		outFile  = fs.String("o", "", "also write the Markdown report to this file")
		jsonFile = fs.String("json", "", "also write the full report as JSON to this file")
	)
	fs.DurationVar(&o.Duration, "duration", 10*time.Second, "measurement window of each load phase")
	fs.DurationVar(&o.Warmup, "warmup", time.Second, "warm-up before each window")
	fs.DurationVar(&o.Idle, "idle", 15*time.Second, "window of the idle CPU phases, after 2 s without load (CPU time counts in 10 ms ticks: 15 s reads a process to 0.07 % of a core)")
	fs.IntVar(&o.Repeat, "repeat", 2, "runs of each full-load phase per system")
	fs.BoolVar(&o.Failover, "failover", true, "measure failover after kill -9")
	fs.BoolVar(&o.Raw, "raw", true, "measure raw UDP multicast")
	fs.BoolVar(&o.Normal, "normal-priority", false, "run every process at normal priority (corosync with sched_rr: no) instead of SCHED_RR 99, corosync's default")
	fs.BoolVar(&o.AtollUnicast, "atoll-unicast", false, "run Atoll with the UDP unicast transport instead of multicast")
	fs.StringVar(&o.Prefix, "prefix", "", "name prefix of the namespaces, at most 7 characters (default: atb and the pid)")
	fs.StringVar(&o.AtollBin, "atoll", "", "the atoll binary (default: go build ./cmd/atoll)")
	fs.StringVar(&o.ClientLoadBin, "clientload", "", "the client-API load client (default: go build ./tests/bench/clientload)")
	fs.StringVar(&o.CPGLoadBin, "cpgload", "", "the Corosync load client (default: gcc tests/bench/cpgload/cpgload.c)")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: sudo compare [flags]\n\nRuns Atoll and Corosync on the same network namespaces and prints both side by side (docs/BENCHMARKS.md).")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	for _, s := range strings.Split(*nodes, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil || n < 2 {
			return fmt.Errorf("-nodes %q: want ring sizes of at least 2, e.g. 3,5", *nodes)
		}
		o.Nodes = append(o.Nodes, n)
	}
	for _, v := range strings.Split(*sizes, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(v))
		if err != nil || n < atollbench.PayloadHeaderLen {
			return fmt.Errorf("-sizes %q: want message sizes of at least %d bytes, e.g. 1024,8192", *sizes, atollbench.PayloadHeaderLen)
		}
		o.Sizes = append(o.Sizes, n)
	}
	for _, v := range strings.Split(*sendersF, ",") {
		switch strings.TrimSpace(v) {
		case "all":
			o.Senders = append(o.Senders, false)
		case "one":
			o.Senders = append(o.Senders, true)
		default:
			return fmt.Errorf("-senders %q: want all, one or all,one", *sendersF)
		}
	}
	for _, v := range strings.Split(*secF, ",") {
		switch strings.TrimSpace(v) {
		case "plain":
			o.Security = append(o.Security, false)
		case "encrypted":
			o.Security = append(o.Security, true)
		default:
			return fmt.Errorf("-security %q: want plain, encrypted or plain,encrypted", *secF)
		}
	}
	if os.Geteuid() != 0 {
		return fmt.Errorf("creating network namespaces needs root: run `sudo bash tests/bench/compare.sh`")
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()

	o.Work = *work
	if o.Work != "" {
		if err := os.MkdirAll(o.Work, 0o755); err != nil {
			return err
		}
	} else {
		dir, err := os.MkdirTemp("", "atoll-compare-")
		if err != nil {
			return err
		}
		o.Work = dir
		if !*keep {
			defer os.RemoveAll(dir)
		}
	}
	exe, err := os.Executable()
	if err != nil {
		return err
	}
	o.Self = []string{exe}
	o.Log = stderr
	if err := build(ctx, &o); err != nil {
		return err
	}
	rep, err := Run(ctx, o)
	if err != nil {
		return err
	}
	var md bytes.Buffer
	command := []string{"sudo bash tests/bench/compare.sh"}
	fs.Visit(func(f *flag.Flag) {
		switch f.Name {
		case "prefix", "work", "keep", "atoll", "cpgload", "clientload", "o", "json":
			// where things go, not what is measured
		default:
			command = append(command, "-"+f.Name+"="+f.Value.String())
		}
	})
	rep.WriteMarkdown(&md, strings.Join(command, " "))
	stdout.Write(md.Bytes())
	if *outFile != "" {
		if err := os.WriteFile(*outFile, md.Bytes(), 0o644); err != nil {
			return err
		}
	}
	if *jsonFile != "" {
		b, err := json.MarshalIndent(rep, "", "  ")
		if err != nil {
			return err
		}
		if err := os.WriteFile(*jsonFile, b, 0o644); err != nil {
			return err
		}
	}
	return nil
}

// build builds the atoll binary and the load clients unless given.
func build(ctx context.Context, o *Options) error {
	if o.AtollBin != "" && o.CPGLoadBin != "" && o.ClientLoadBin != "" {
		return nil
	}
	root, err := exec.CommandContext(ctx, "go", "list", "-m", "-f", "{{.Dir}}").Output()
	if err != nil {
		return fmt.Errorf("find the module's directory (run from inside the atoll repository, or pass -atoll and -cpgload): go list -m: %w", err)
	}
	dir := strings.TrimSpace(string(root))
	if o.AtollBin == "" {
		o.AtollBin = filepath.Join(o.Work, "atoll")
		cmd := exec.CommandContext(ctx, "go", "build", "-o", o.AtollBin, "./cmd/atoll")
		cmd.Dir = dir
		if out, err := cmd.CombinedOutput(); err != nil {
			return fmt.Errorf("go build ./cmd/atoll: %v: %s", err, out)
		}
	}
	if o.ClientLoadBin == "" {
		o.ClientLoadBin = filepath.Join(o.Work, "clientload")
		cmd := exec.CommandContext(ctx, "go", "build", "-o", o.ClientLoadBin, "./tests/bench/clientload")
		cmd.Dir = dir
		if out, err := cmd.CombinedOutput(); err != nil {
			return fmt.Errorf("go build ./tests/bench/clientload: %v: %s", err, out)
		}
	}
	if o.CPGLoadBin == "" {
		o.CPGLoadBin, err = BuildCPGLoad(ctx, filepath.Join(dir, "tests/bench/cpgload/cpgload.c"), o.Work)
	}
	return err
}
