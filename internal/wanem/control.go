package wanem

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"path"
	"sort"
	"strings"
	"time"
)

// Control changes running links by text commands, one per line, so that a
// relay in another process (the `atoll relay` command between network
// namespaces) can be cut, healed and reconfigured by a test or an operator.
// The commands are
//
//	show                 each link's name, parameters (as a spec) and "cut" if cut
//	stats                each link's Stats, as one JSON object keyed by link name
//	set LINK SPEC...     change the named parameters (ParseParams; "perfect" resets)
//	cut LINK             cut the link (Link.Cut)
//	heal LINK            heal it
//
// where LINK is a comma-separated list of link names or glob patterns
// ("a:*" is every link of a Mesh from a, "a:*,*:a" isolates a), or "all"
// (or "both") for every link. The reply
// to a command is "ok" followed by its output, or "error: " and the reason.
type Control struct {
	// Links are the links the commands address, by name.
	Links map[string]*Link
}

// Do executes one command and returns the reply.
func (c *Control) Do(line string) string {
	out, err := c.do(strings.Fields(line))
	if err != nil {
		return "error: " + err.Error()
	}
	if out == "" {
		return "ok"
	}
	return "ok\n" + out
}

func (c *Control) names() []string {
	var ns []string
	for n := range c.Links {
		ns = append(ns, n)
	}
	sort.Strings(ns)
	return ns
}

// pick returns the links a command names: a comma-separated list of link
// names or glob patterns (path.Match: "c:*" is every link from c, "*:c"
// every link to c), "all" or "both" for every link.
func (c *Control) pick(args []string) ([]*Link, error) {
	if len(args) == 0 {
		return nil, fmt.Errorf("name a link (%s) or all", strings.Join(c.names(), ", "))
	}
	var ls []*Link
	seen := map[string]bool{}
	for _, pat := range strings.Split(args[0], ",") {
		if pat == "all" || pat == "both" {
			pat = "*"
		}
		matched := false
		for _, n := range c.names() {
			if ok, err := path.Match(pat, n); err != nil {
				return nil, fmt.Errorf("bad link pattern %q: %w", pat, err)
			} else if ok {
				matched = true
				if !seen[n] {
					seen[n] = true
					ls = append(ls, c.Links[n])
				}
			}
		}
		if !matched {
			return nil, fmt.Errorf("no link %q (links: %s, all)", pat, strings.Join(c.names(), ", "))
		}
	}
	return ls, nil
}

func (c *Control) do(f []string) (string, error) {
	if len(f) == 0 {
		return "", errors.New("empty command (show, stats, set LINK SPEC, cut LINK, heal LINK)")
	}
	switch f[0] {
	case "show":
		var b strings.Builder
		for _, n := range c.names() {
			l := c.Links[n]
			fmt.Fprintf(&b, "%s: %v", n, l.Params())
			if l.IsCut() {
				b.WriteString(" cut")
			}
			b.WriteByte('\n')
		}
		return b.String(), nil
	case "stats":
		m := map[string]Stats{}
		for n, l := range c.Links {
			m[n] = l.Stats()
		}
		j, err := json.Marshal(m)
		return string(j) + "\n", err
	case "set":
		ls, err := c.pick(f[1:])
		if err != nil {
			return "", err
		}
		if len(f) < 3 {
			return "", errors.New("set needs a spec, e.g. set all delay=100ms loss=1%")
		}
		spec := strings.Join(f[2:], " ")
		// Parse against every link first, so a bad spec changes none.
		ps := make([]Params, len(ls))
		for i, l := range ls {
			if ps[i], err = ParseParams(l.Params(), spec); err != nil {
				return "", err
			}
		}
		for i, l := range ls {
			if err := l.Set(ps[i]); err != nil {
				return "", err
			}
		}
		return "", nil
	case "cut", "heal":
		ls, err := c.pick(f[1:])
		if err != nil {
			return "", err
		}
		for _, l := range ls {
			if f[0] == "cut" {
				l.Cut()
			} else {
				l.Heal()
			}
		}
		return "", nil
	}
	return "", fmt.Errorf("unknown command %q (show, stats, set LINK SPEC, cut LINK, heal LINK)", f[0])
}

// Serve answers commands on ln, one command per connection, until ln is
// closed.
func (c *Control) Serve(ln net.Listener) error {
	for {
		conn, err := ln.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return nil
			}
			return fmt.Errorf("wanem: control socket: %w", err)
		}
		go func() {
			defer conn.Close()
			conn.SetDeadline(time.Now().Add(10 * time.Second))
			line, err := bufio.NewReader(io.LimitReader(conn, 4096)).ReadString('\n')
			if err != nil && line == "" {
				return
			}
			io.WriteString(conn, c.Do(line)+"\n")
		}()
	}
}

// ControlRequest sends one command to a control socket (a Unix socket path)
// and returns the reply's output; a reply "error: ..." becomes an error.
func ControlRequest(path, command string) (string, error) {
	conn, err := net.DialTimeout("unix", path, 5*time.Second)
	if err != nil {
		return "", fmt.Errorf("wanem: control socket %s: %w (is the relay running with --control %s?)", path, err, path)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.WriteString(conn, strings.ReplaceAll(command, "\n", " ")+"\n"); err != nil {
		return "", fmt.Errorf("wanem: control socket %s: %w", path, err)
	}
	reply, err := io.ReadAll(conn)
	if err != nil {
		return "", fmt.Errorf("wanem: control socket %s: %w", path, err)
	}
	r := strings.TrimRight(string(reply), "\n")
	if msg, ok := strings.CutPrefix(r, "error: "); ok {
		return "", fmt.Errorf("wanem: relay refused %q: %s", command, msg)
	}
	if r != "ok" && !strings.HasPrefix(r, "ok\n") {
		return "", fmt.Errorf("wanem: control socket %s: unexpected reply %q", path, r)
	}
	out := strings.TrimPrefix(strings.TrimPrefix(r, "ok"), "\n")
	return out, nil
}

// Control returns a Control over the relay's two links, named "forward"
// and "reverse".
func (r *Relay) Control() *Control {
	return &Control{Links: map[string]*Link{"forward": r.fwd, "reverse": r.rev}}
}
