package isolation

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/atoll-gcs/atoll/internal/sites"
	"github.com/atoll-gcs/atoll/internal/syncbuf"
)

// ChildEnv names the environment variable that makes a process a site's
// process of the benchmark (ChildMain): the coordinator re-executes its
// own binary with it set to the site.
const ChildEnv = "ATOLL_BENCH_ISOLATION_SITE"

// ChildMain runs this process as a site's process of the benchmark when
// ChildEnv is set, and then exits; it returns at once otherwise. A binary
// that runs the benchmark (atoll, this package's tests) calls it first
// thing in main (TestMain), before anything writes to stdout: stdout
// carries the control protocol's answers.
func ChildMain() {
	site := os.Getenv(ChildEnv)
	if site == "" {
		return
	}
	if err := serve(context.Background(), os.Stdin, os.Stdout, os.Stderr); err != nil {
		fmt.Fprintf(os.Stderr, "isolation: site %s's process: %v\n", site, err)
		os.Exit(1)
	}
	os.Exit(0)
}

// serve is a site's process: it reads the coordinator's requests from in
// (JSON lines, the first one opStart), carries each out in a goroutine of
// its own and writes the answers to out. It returns after answering
// opStop, or with an error when in ends or holds a line that is not a
// request (the coordinator ended: the agents end with the process). The
// agents log to logs.
func serve(ctx context.Context, in io.Reader, out io.Writer, logs io.Writer) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	dec := json.NewDecoder(in)
	var wmu sync.Mutex
	enc := json.NewEncoder(out)
	reply := func(a answer) error {
		wmu.Lock()
		defer wmu.Unlock()
		return enc.Encode(a)
	}
	var q request
	if err := dec.Decode(&q); err != nil {
		return fmt.Errorf("the first request: %w", err)
	}
	k, err := startWorker(q, logs)
	if err != nil {
		reply(answer{ID: q.ID, Err: err.Error()})
		return err
	}
	var wg sync.WaitGroup
	defer func() {
		// The requests still running end with the context.
		cancel()
		wg.Wait()
		k.w.Close()
	}()
	if err := reply(answer{ID: q.ID}); err != nil {
		return err
	}
	for {
		var q request
		if err := dec.Decode(&q); err != nil {
			if errors.Is(err, io.EOF) {
				return errors.New("the coordinator closed the control channel before the end")
			}
			return fmt.Errorf("a request that is not one: %w", err)
		}
		if q.Op == opStop {
			wg.Wait()
			return reply(k.handle(ctx, q))
		}
		wg.Go(func() { reply(k.handle(ctx, q)) })
	}
}

// startWorker sets up the world of q.Spec in this process and starts the
// agents of q.Sites.
func startWorker(q request, logs io.Writer) (*worker, error) {
	if q.Op != opStart || q.Spec == nil || len(q.Sites) == 0 {
		return nil, fmt.Errorf("isolation: the first request must be %q with the world's spec and the sites to run, not %q", opStart, q.Op)
	}
	if len(q.CPUs) > 0 {
		if err := pin(q.CPUs); err != nil {
			return nil, err
		}
	}
	if q.Idle {
		if err := idle(); err != nil {
			return nil, err
		}
	}
	w, err := sites.New(sites.Config{From: q.Spec, Logs: logs})
	if err != nil {
		return nil, err
	}
	k := &worker{w: w, sites: q.Sites, clk: clock{base: q.Base}, sessions: map[string]*session{}}
	for _, s := range q.Sites {
		ids := w.SiteNodes(s)
		if len(ids) == 0 {
			w.Close()
			return nil, fmt.Errorf("isolation: no site %q in the world", s)
		}
		for _, id := range ids {
			if err := w.Start(id); err != nil {
				w.Close()
				return nil, err
			}
		}
	}
	return k, nil
}

// caller is how the coordinator reaches a worker.
type caller interface {
	call(ctx context.Context, q request) (answer, error)
	// name names the worker's process in the report and in errors.
	name() string
	// stop ends the worker's sessions and agents (and its process);
	// the answer's Failed are the processes stopped or killed before.
	stop(ctx context.Context) (answer, error)
}

// local is a worker in the coordinator's process.
type local struct{ k *worker }

func (l local) call(ctx context.Context, q request) (answer, error) {
	a := l.k.handle(ctx, q)
	if a.Err != "" {
		return a, errors.New(a.Err)
	}
	return a, nil
}

func (l local) stop(ctx context.Context) (answer, error) { return l.call(ctx, request{Op: opStop}) }

func (l local) name() string { return "sites " + strings.Join(l.k.sites, "+") + " and the WAN relays" }

// child is a site's process, started by the coordinator.
type child struct {
	site string
	cmd  *exec.Cmd
	in   io.WriteCloser
	logs io.Writer // its stderr: the agents' logs
	fail func(error)

	wmu  sync.Mutex
	enc  *json.Encoder
	next atomic.Uint64

	stopping atomic.Bool // told to stop: its end is no failure
	mu       sync.Mutex
	pending  map[uint64]chan answer
	err      error // set when the process ended: every call fails with it
	done     chan struct{}
}

// startChild starts site's process: this binary again, with ChildEnv set
// and the runtime's gctrace on. Its stderr goes to logs, and gcMark (if
// not nil) gets the span of each of its collector's cycles (gcWriter);
// fail is called once if it ends before it was told to stop, with an
// error naming the site.
func startChild(ctx context.Context, site string, logs io.Writer, fail func(error), gcMark func(from, to time.Time)) (*child, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, fmt.Errorf("isolation: the benchmark's binary, to start site %s's process: %w", site, err)
	}
	cmd := exec.CommandContext(ctx, exe)
	cmd.Env = append(withGCTrace(os.Environ()), ChildEnv+"="+site)
	cmd.Stderr = &gcWriter{w: logs, site: site, now: time.Now, mark: gcMark}
	dieWithParent(cmd)
	in, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("isolation: start site %s's process: %w", site, err)
	}
	c := &child{site: site, cmd: cmd, in: in, logs: logs, fail: fail, enc: json.NewEncoder(in), pending: map[uint64]chan answer{}, done: make(chan struct{})}
	go c.read(out)
	return c, nil
}

func (c *child) name() string { return "site " + c.site }

// read hands each answer to its call, until the process's stdout ends.
func (c *child) read(out io.Reader) {
	err := readAnswers(bufio.NewReader(out), func(a answer) {
		c.mu.Lock()
		ch := c.pending[a.ID]
		delete(c.pending, a.ID)
		c.mu.Unlock()
		if ch != nil {
			ch <- a
		}
	})
	if err != nil {
		c.cmd.Process.Kill() // it broke the protocol: it is of no more use
	}
	werr := c.cmd.Wait()
	stopped := c.stopping.Load()
	c.mu.Lock()
	if stopped {
		c.err = fmt.Errorf("isolation: site %s's process was stopped", c.site)
	} else {
		if err == nil {
			err = errors.New("its output ended")
		}
		c.err = fmt.Errorf("isolation: site %s's process ended during the run (%s; %v); the end of its output: %s", c.site, exitOf(werr), err, lastLines(c.logs, 20))
	}
	for _, ch := range c.pending {
		close(ch)
	}
	c.pending = nil
	err = c.err
	c.mu.Unlock()
	// The failure is reported before done closes, so that whoever waits
	// for done sees it (fail does not wait for done: the coordinator's is
	// a context's cancel).
	if !stopped {
		c.fail(err)
	}
	close(c.done)
}

// readAnswers decodes answers from r and hands each to f, until r ends
// (nil) or holds a line that is not an answer.
func readAnswers(r io.Reader, f func(answer)) error {
	dec := json.NewDecoder(r)
	for {
		var a answer
		if err := dec.Decode(&a); err != nil {
			if errors.Is(err, io.EOF) {
				return nil
			}
			return fmt.Errorf("an answer that is not one: %w", err)
		}
		f(a)
	}
}

func exitOf(err error) string {
	if err == nil {
		return "exit status 0"
	}
	return err.Error()
}

// lastLines returns the last n lines of logs when it is a buffer of this
// package's (the agents' logs are otherwise where Config.AgentLogs put
// them).
func lastLines(logs io.Writer, n int) string {
	if b, ok := logs.(*syncbuf.Buffer); ok {
		return "\n" + tail(b.String(), n)
	}
	return "(in the agents' logs)"
}

// call sends q and waits for its answer.
func (c *child) call(ctx context.Context, q request) (answer, error) {
	q.ID = c.next.Add(1)
	ch := make(chan answer, 1)
	c.mu.Lock()
	if c.err != nil {
		c.mu.Unlock()
		return answer{}, c.err
	}
	c.pending[q.ID] = ch
	c.mu.Unlock()
	c.wmu.Lock()
	err := c.enc.Encode(q)
	c.wmu.Unlock()
	if err != nil {
		return answer{}, fmt.Errorf("isolation: the request to site %s's process: %w", c.site, err)
	}
	select {
	case a, ok := <-ch:
		if !ok {
			c.mu.Lock()
			defer c.mu.Unlock()
			return answer{}, c.err
		}
		if a.Err != "" {
			return a, fmt.Errorf("site %s's process: %s", c.site, a.Err)
		}
		return a, nil
	case <-ctx.Done():
		return answer{}, context.Cause(ctx)
	}
}

// kill ends the process if it still runs (the run ended early) and waits
// for its end.
func (c *child) kill() {
	c.stopping.Store(true)
	c.cmd.Process.Kill()
	<-c.done
}

// childLogs is where a site's process's stderr (its agents' logs) goes:
// w, which is buf when the run keeps them in memory.
type childLogs struct {
	site string
	w    io.Writer
	buf  *syncbuf.Buffer
}

// stop tells the process to stop its sessions and agents and waits for
// its end; it returns the processes stopped or killed before.
func (c *child) stop(ctx context.Context) (answer, error) {
	c.stopping.Store(true)
	a, err := c.call(ctx, request{Op: opStop})
	c.in.Close()
	<-c.done
	return a, err
}
