package bench

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os/exec"
	"strings"
	"sync"

	"github.com/atoll-gcs/atoll/internal/syncbuf"
)

// Proc is a running benchmark node process: `atoll bench node`, or the
// Corosync load client, which speaks the same JSON lines.
type Proc struct {
	Name   string
	Cmd    *exec.Cmd
	Events chan NodeEvent // progress events; closed when the process ends

	stderr  syncbuf.Buffer
	mu      sync.Mutex
	result  *NodeResult
	lines   []string // stdout lines that are not JSON, for errors
	readErr error
	done    chan struct{}
}

// StartProc starts argv with stdin as its standard input and reads its JSON
// lines. The caller must read Events until it is closed, or stop reading
// and call Wait, which drains it.
func StartProc(ctx context.Context, name string, argv []string, stdin []byte) (*Proc, error) {
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	p := &Proc{Name: name, Cmd: cmd, Events: make(chan NodeEvent, 1024), done: make(chan struct{})}
	if stdin != nil {
		cmd.Stdin = bytes.NewReader(stdin)
	}
	cmd.Stderr = &p.stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("bench: start %s (%s): %w", name, strings.Join(argv, " "), err)
	}
	go p.read(out)
	return p, nil
}

func (p *Proc) read(r io.Reader) {
	defer close(p.done)
	defer close(p.Events)
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Bytes()
		var kind struct {
			Type string `json:"type"`
		}
		if json.Unmarshal(line, &kind) != nil || kind.Type == "" {
			p.mu.Lock()
			p.lines = append(p.lines, string(line))
			p.mu.Unlock()
			continue
		}
		if kind.Type == "result" {
			var res NodeResult
			if err := json.Unmarshal(line, &res); err != nil {
				p.readErr = fmt.Errorf("bench: %s: bad result line %q: %w", p.Name, line, err)
				continue
			}
			p.mu.Lock()
			p.result = &res
			p.mu.Unlock()
			continue
		}
		var e NodeEvent
		if json.Unmarshal(line, &e) == nil {
			select {
			case p.Events <- e:
			default: // nobody reads events: drop them
			}
		}
	}
}

// Wait waits for the process to end and returns its result.
func (p *Proc) Wait() (NodeResult, error) {
	go func() {
		for range p.Events {
		}
	}()
	<-p.done
	err := p.Cmd.Wait()
	p.mu.Lock()
	defer p.mu.Unlock()
	if err != nil || p.result == nil {
		msg := strings.TrimSpace(p.stderr.String())
		if len(p.lines) > 0 {
			msg += "\n" + strings.Join(p.lines, "\n")
		}
		if err == nil {
			err = fmt.Errorf("no result line")
		}
		return NodeResult{}, fmt.Errorf("bench: %s: %v: %s", p.Name, err, msg)
	}
	return *p.result, p.readErr
}

// Stderr returns what the process wrote to its standard error so far.
func (p *Proc) Stderr() string { return p.stderr.String() }
