package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"
	"unicode/utf8"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/atoll-gcs/atoll/agent"
	"github.com/atoll-gcs/atoll/client"
)

func init() { register(newConsoleCmd) }

func newConsoleCmd() *cobra.Command {
	var api apiFlags
	var cf clientFlags
	var interval time.Duration
	cmd := &cobra.Command{
		Use:   "console [--data-dir DIR | --admin-socket PATH | --api-url URL]",
		Short: "An interactive console: a live view of the ring, groups, clients and rates, and commands",
		Long: `Console shows the local agent live, refreshed in place every --interval: its
ring with the members, the token's rotation time and the delivery and
retransmission rates over the last interval, flow control, the federation
domains and rings, the groups and their members, the clients and their
queues, and the last membership events. It reads the introspection API like
'atoll status' and 'atoll inspect', so they agree.

Type a command at the prompt and press Enter:
  join GROUP            join GROUP as the console's own client (its messages and views show below)
  leave GROUP           leave it
  send GROUP TEXT       multicast TEXT to GROUP (agreed)
  watch GROUP           join GROUP to see its messages and views (same as join)
  evict CLIENT [WHY]    disconnect a client of the agent (admin role)
  loglevel [LEVEL]      show or set the agent's log level: debug, info, warn, error (admin role)
  handover DOMAIN [TO]  hand the site's gateway role for DOMAIN to gateway TO, or the next (admin role)
  clear                 clear the output
  help                  list the commands
  quit                  leave (also Ctrl-D on an empty line, or Ctrl-C)

The console's client connects to the agent's client socket at the first
join or send (--socket, --connect, --name). It needs a terminal; scripts use
'atoll inspect RESOURCE --watch' instead.`,
		Example: `  atoll console
  atoll console --data-dir /tmp/lab-2 --interval 500ms`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if interval < 100*time.Millisecond {
				return usageError(fmt.Errorf("console: --interval %v: use at least 100ms", interval))
			}
			in, ok := cmd.InOrStdin().(*os.File)
			out, ok2 := cmd.OutOrStdout().(*os.File)
			if !ok || !ok2 || !term.IsTerminal(int(in.Fd())) || !term.IsTerminal(int(out.Fd())) {
				return usageError(errors.New("console: standard input and output must be a terminal; for scripts use `atoll inspect RESOURCE --watch` or `atoll status -o json`"))
			}
			c, err := api.client()
			if err != nil {
				return err
			}
			cf.dataDir = api.dataDir
			con := newConsole(c, &cf, interval)
			return con.run(cmd.Context(), in, out)
		},
	}
	api.add(cmd)
	fl := cmd.Flags()
	fl.DurationVar(&interval, "interval", time.Second, "how often the view refreshes")
	fl.StringVar(&cf.socket, "socket", "", "the agent's client socket for join and send (default DATA-DIR/"+agent.ClientSocketName+")")
	fl.StringVar(&cf.connect, "connect", "", "the agent's client `ADDRESS` for join and send, as for 'atoll join'")
	fl.StringVar(&cf.name, "name", "", "the console client's name (default: one the agent picks)")
	usageExits(cmd)
	return cmd
}

// snapshot is one reading of the agent for the console's view.
type snapshot struct {
	at      time.Time
	st      *agent.Status
	groups  *agent.GroupsReply
	clients *agent.ClientsReply
	fed     *agent.FederationInfo
	events  *agent.EventsReply
	err     error
}

// fetchSnapshot reads every resource the view shows.
func fetchSnapshot(ctx context.Context, c *agent.Client) snapshot {
	s := snapshot{at: time.Now()}
	var errs []error
	var err error
	s.st, err = c.Status(ctx)
	errs = append(errs, err)
	if err == nil {
		s.groups, err = c.Groups(ctx)
		errs = append(errs, err)
		s.clients, err = c.Clients(ctx)
		errs = append(errs, err)
		s.fed, err = c.Federation(ctx)
		errs = append(errs, err)
		s.events, err = c.Events(ctx, 0)
		errs = append(errs, err)
	}
	s.err = errors.Join(errs...)
	return s
}

// maxOutput is how many lines of output the console keeps.
const maxOutput = 500

// console is the state of `atoll console`: the last two snapshots (for
// rates), the output of commands and watched groups, and the line being
// typed.
type console struct {
	api      *agent.Client
	cf       *clientFlags
	interval time.Duration

	mu      sync.Mutex
	cur     snapshot
	prev    snapshot
	output  []string
	line    []rune
	history []string
	histAt  int
	cl      *client.Client // the console's client session, from the first join or send
	dialMu  sync.Mutex     // one dial at a time
	quit    bool
	dirty   chan struct{} // capacity 1: redraw
}

func newConsole(api *agent.Client, cf *clientFlags, interval time.Duration) *console {
	return &console{api: api, cf: cf, interval: interval, dirty: make(chan struct{}, 1)}
}

// redraw asks the loop to draw the screen again.
func (c *console) redraw() {
	select {
	case c.dirty <- struct{}{}:
	default:
	}
}

// print appends lines to the output.
func (c *console) print(format string, a ...any) {
	c.mu.Lock()
	for l := range strings.SplitSeq(fmt.Sprintf(format, a...), "\n") {
		c.output = append(c.output, l)
	}
	if n := len(c.output) - maxOutput; n > 0 {
		c.output = slices.Delete(c.output, 0, n)
	}
	c.mu.Unlock()
	c.redraw()
}

// run runs the console on the terminal in/out until quit or ctx ends.
func (c *console) run(ctx context.Context, in, out *os.File) error {
	old, err := term.MakeRaw(int(in.Fd()))
	if err != nil {
		return fmt.Errorf("console: cannot put the terminal in raw mode: %w", err)
	}
	defer term.Restore(int(in.Fd()), old)
	ctx, stop := signal.NotifyContext(ctx, syscall.SIGTERM)
	defer stop()
	winch := make(chan os.Signal, 1)
	signal.Notify(winch, syscall.SIGWINCH)
	defer signal.Stop(winch)
	fmt.Fprint(out, "\x1b[?1049h") // the alternate screen
	defer fmt.Fprint(out, "\x1b[?1049l")
	defer c.closeClient()

	keys := make(chan []byte)
	go readKeys(in, keys)
	go c.poll(ctx)
	c.print("atoll console: type help for the commands, quit to leave")
	for {
		w, h, err := term.GetSize(int(out.Fd()))
		if err != nil {
			w, h = 80, 24
		}
		c.mu.Lock()
		screen := c.render(w, h, time.Now())
		c.mu.Unlock()
		io.WriteString(out, screen)
		select {
		case <-ctx.Done():
			return nil
		case b, ok := <-keys:
			if !ok {
				return nil
			}
			c.keys(ctx, b)
		case <-c.dirty:
		case <-winch:
		}
		c.mu.Lock()
		quit := c.quit
		c.mu.Unlock()
		if quit {
			return nil
		}
	}
}

// readKeys sends what the terminal types, until it fails.
func readKeys(in io.Reader, keys chan<- []byte) {
	buf := make([]byte, 256)
	for {
		n, err := in.Read(buf)
		if n > 0 {
			keys <- slices.Clone(buf[:n])
		}
		if err != nil {
			close(keys)
			return
		}
	}
}

// poll reads a snapshot every interval.
func (c *console) poll(ctx context.Context) {
	for {
		rctx, cancel := context.WithTimeout(ctx, max(c.interval, 2*time.Second))
		s := fetchSnapshot(rctx, c.api)
		cancel()
		c.mu.Lock()
		if c.cur.st != nil {
			c.prev = c.cur
		}
		c.cur = s
		c.mu.Unlock()
		c.redraw()
		select {
		case <-ctx.Done():
			return
		case <-time.After(c.interval):
		}
	}
}

// keys handles typed bytes: the line editor, and Enter runs the line.
func (c *console) keys(ctx context.Context, b []byte) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for len(b) > 0 {
		switch k := b[0]; {
		case k == 3: // Ctrl-C
			c.quit = true
			return
		case k == 4: // Ctrl-D
			if len(c.line) == 0 {
				c.quit = true
				return
			}
			b = b[1:]
		case k == '\r' || k == '\n':
			line := strings.TrimSpace(string(c.line))
			c.line = c.line[:0]
			b = b[1:]
			if line != "" {
				c.history = append(c.history, line)
				c.histAt = len(c.history)
				c.output = append(c.output, "> "+line)
				go c.exec(ctx, line)
			}
		case k == 0x7f || k == 8: // Backspace
			if len(c.line) > 0 {
				c.line = c.line[:len(c.line)-1]
			}
			b = b[1:]
		case k == 0x15: // Ctrl-U
			c.line = c.line[:0]
			b = b[1:]
		case k == 0x1b: // an escape sequence: arrows walk the history
			n := escapeLen(b)
			switch string(b[:n]) {
			case "\x1b[A", "\x1bOA":
				c.walkHistory(-1)
			case "\x1b[B", "\x1bOB":
				c.walkHistory(1)
			}
			b = b[n:]
		case k < 0x20:
			b = b[1:]
		default:
			r, n := utf8.DecodeRune(b)
			if r != utf8.RuneError && len(c.line) < 500 {
				c.line = append(c.line, r)
			}
			b = b[n:]
		}
	}
}

// escapeLen returns the length of the escape sequence at the start of b.
func escapeLen(b []byte) int {
	if len(b) < 2 || (b[1] != '[' && b[1] != 'O') {
		return 1
	}
	for i := 2; i < len(b); i++ {
		if b[i] >= 0x40 && b[i] <= 0x7e {
			return i + 1
		}
	}
	return len(b)
}

// walkHistory replaces the line with an earlier (-1) or later (1) one.
func (c *console) walkHistory(d int) {
	c.histAt = min(max(c.histAt+d, 0), len(c.history))
	if c.histAt == len(c.history) {
		c.line = c.line[:0]
		return
	}
	c.line = []rune(c.history[c.histAt])
}

// exec runs one command line; its output goes to the output area.
func (c *console) exec(ctx context.Context, line string) {
	cmd, rest, _ := strings.Cut(line, " ")
	rest = strings.TrimSpace(rest)
	arg, text, _ := strings.Cut(rest, " ")
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	var err error
	switch cmd {
	case "help", "?":
		c.print("commands: join GROUP, leave GROUP, send GROUP TEXT, watch GROUP, evict CLIENT [WHY], loglevel [LEVEL], handover DOMAIN [TO], clear, quit")
	case "quit", "exit", "q":
		c.mu.Lock()
		c.quit = true
		c.mu.Unlock()
		c.redraw()
	case "clear":
		c.mu.Lock()
		c.output = nil
		c.mu.Unlock()
		c.redraw()
	case "join", "watch":
		err = c.join(ctx, arg)
	case "leave":
		err = c.withClient(ctx, arg, func(cl *client.Client) error { return cl.Leave(ctx, arg) })
		if err == nil {
			c.print("left %s", arg)
		}
	case "send":
		err = c.withClient(ctx, arg, func(cl *client.Client) error {
			return cl.MulticastWait(ctx, client.Agreed, 0, []string{arg}, []byte(text))
		})
		if err == nil {
			c.print("sent %d bytes to %s", len(text), arg)
		}
	case "evict":
		if err = needArg(arg, "evict CLIENT [WHY]"); err == nil {
			if err = c.api.EvictClient(ctx, arg, text); err == nil {
				c.print("client %s evicted", arg)
			}
		}
	case "loglevel":
		if arg != "" {
			err = c.api.SetLogLevel(ctx, arg)
		}
		if err == nil {
			var lv *agent.LogLevelReply
			if lv, err = c.api.LogLevel(ctx); err == nil {
				c.print("log level %s%s", lv.Level, fixedLevel(lv))
			}
		}
	case "handover":
		if err = needArg(arg, "handover DOMAIN [TO]"); err == nil {
			var r *agent.HandoverReply
			if r, err = c.api.Handover(ctx, arg, strings.TrimSpace(text)); err == nil {
				var b strings.Builder
				printHandover(&b, r)
				for l := range strings.Lines(b.String()) {
					c.print("%s", strings.TrimSuffix(l, "\n"))
				}
			}
		}
	default:
		err = fmt.Errorf("unknown command %q; type help", cmd)
	}
	if err != nil {
		c.print("error: %v", err)
	}
}

func needArg(arg, usage string) error {
	if arg == "" {
		return fmt.Errorf("usage: %s", usage)
	}
	return nil
}

// join joins group as the console's client.
func (c *console) join(ctx context.Context, group string) error {
	err := c.withClient(ctx, group, func(cl *client.Client) error { return cl.Join(ctx, group) })
	if err == nil {
		c.print("joined %s: its messages and views show here", group)
	}
	return err
}

// withClient runs f with the console's client session, connecting it
// first if needed; group must be given.
func (c *console) withClient(ctx context.Context, group string, f func(*client.Client) error) error {
	if group == "" {
		return errors.New("name a group")
	}
	cl, err := c.session(ctx)
	if err != nil {
		return err
	}
	return f(cl)
}

// session returns the console's client session, connecting it at the
// first call.
func (c *console) session(ctx context.Context) (*client.Client, error) {
	c.dialMu.Lock()
	defer c.dialMu.Unlock()
	c.mu.Lock()
	cl := c.cl
	c.mu.Unlock()
	if cl != nil {
		return cl, nil
	}
	cl, err := c.cf.dial(ctx)
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	c.cl = cl
	c.mu.Unlock()
	c.print("connected to agent %s as %s", cl.Node(), cl.Name())
	go c.follow(cl)
	return cl, nil
}

// follow prints the client's events until its session ends.
func (c *console) follow(cl *client.Client) {
	for e := range cl.Events() {
		switch e.Kind {
		case client.EventMessage:
			m := e.Message
			c.print("[%s] %s: %s", strings.Join(m.Groups, ","), m.Sender, escape(m.Payload))
		case client.EventView:
			v := e.View
			kind := "view"
			if v.Transitional {
				kind = "transitional view"
			}
			c.print("[%s] %s %s: %s%s", v.Group, kind, v.ID, strings.Join(v.Members, " "), viewChange(v))
		case client.EventLeft:
			c.print("[%s] left", e.Group)
		default:
			c.print("%s: %v", e.Kind, e.Err)
		}
	}
	c.mu.Lock()
	if c.cl == cl {
		c.cl = nil
	}
	c.mu.Unlock()
	c.print("the console's client session ended: %v", cl.Err())
}

func viewChange(v *client.View) string {
	var parts []string
	if len(v.Joined) > 0 {
		parts = append(parts, "joined "+strings.Join(v.Joined, " "))
	}
	if len(v.Left) > 0 {
		parts = append(parts, "left "+strings.Join(v.Left, " "))
	}
	if len(parts) == 0 {
		return ""
	}
	return " (" + strings.Join(parts, "; ") + ", " + v.Reason.String() + ")"
}

func (c *console) closeClient() {
	c.mu.Lock()
	cl := c.cl
	c.mu.Unlock()
	if cl != nil {
		cl.Close()
	}
}

// render draws the screen of width w and height h: the live view on top,
// the output below it, the prompt on the last line. c.mu is held.
func (c *console) render(w, h int, now time.Time) string {
	view := c.viewLines(now)
	// The view takes at most two thirds of the screen; the output at
	// least what is left above the prompt and its rule.
	view = view[:min(len(view), max(h*2/3, 1))]
	room := max(h-len(view)-2, 0)
	out := wrapTail(c.output, w, room)
	var b strings.Builder
	b.WriteString("\x1b[H")
	line := func(s string) {
		b.WriteString(clip(s, w))
		b.WriteString("\x1b[K\r\n")
	}
	for _, l := range view {
		line(l)
	}
	line(strings.Repeat("─", max(w, 1)))
	for _, l := range out {
		line(l)
	}
	for range room - len(out) {
		line("")
	}
	prompt := "> " + string(c.line)
	b.WriteString(clip(prompt, w))
	b.WriteString("\x1b[K")
	return b.String()
}

// wrapTail wraps lines at w columns and returns the last n rows.
func wrapTail(lines []string, w, n int) []string {
	var rows []string
	for i := len(lines) - 1; i >= 0 && len(rows) < n; i-- {
		r := []rune(lines[i])
		var wrapped []string
		for len(r) > w && w > 0 {
			wrapped = append(wrapped, string(r[:w]))
			r = r[w:]
		}
		wrapped = append(wrapped, string(r))
		rows = append(wrapped, rows...)
	}
	return rows[max(len(rows)-n, 0):]
}

// clip cuts s to w columns (runes).
func clip(s string, w int) string {
	if utf8.RuneCountInString(s) <= w {
		return s
	}
	r := []rune(s)
	return string(r[:max(w-1, 0)]) + "…"
}

// viewLines are the live view's lines.
func (c *console) viewLines(now time.Time) []string {
	s, p := &c.cur, &c.prev
	st := s.st
	head := fmt.Sprintf("atoll console    %s    refresh %v", now.Format(time.TimeOnly), c.interval)
	if st == nil {
		msg := "reading the agent..."
		if s.err != nil {
			msg = "atoll: " + s.err.Error()
		}
		return []string{head, "", msg}
	}
	lines := []string{fmt.Sprintf("%s    node %s  site %s  cluster %s  %s", head, st.Node, st.Site, st.Cluster, strings.ToUpper(st.Health.String()))}
	if s.err != nil {
		lines = append(lines, "atoll: "+s.err.Error())
	}
	var in []string
	for _, m := range st.Members {
		if m.InRing {
			in = append(in, m.ID)
		}
	}
	ring := st.Ring
	if ring == "" {
		ring = "none yet"
	}
	lines = append(lines, "", fmt.Sprintf("RING %s  %s  formed %s  members %d of %d: %s", ring, st.State, ago(now, st.RingSince), len(in), len(st.Members), strings.Join(in, " ")))
	if len(st.Missing) > 0 {
		lines = append(lines, "  missing "+strings.Join(st.Missing, " "))
	}
	lines = append(lines, "  "+rates(p, s), fmt.Sprintf("  flow control: %d pending in the ring, %d queued, %d in the group layer (bound %d), %d refused; %d token losses, %d rings installed",
		st.Counters.Pending, st.Counters.Queued, st.Counters.GroupPending, st.ClientLimits.SendQueueMsgs, st.Counters.Backpressure, st.Counters.TokenLosses, st.Counters.RingsInstalled))
	if f := s.fed; f != nil && len(f.Domains) > 0 {
		lines = append(lines, "", "FEDERATION")
		for _, d := range f.Domains {
			l := fmt.Sprintf("  %s  gateways %s  active %s", d.Name, dash(strings.Join(d.Gateways, " ")), dash(d.Active))
			for _, r := range f.Rings {
				if r.Domain == d.Name {
					l += fmt.Sprintf("  ring %s %s  sites %s  missing %s", dash(r.Ring), r.State, dash(strings.Join(r.Members, " ")), dash(strings.Join(r.Missing, " ")))
				}
			}
			lines = append(lines, l)
		}
	}
	if g := s.groups; g != nil {
		lines = append(lines, "", fmt.Sprintf("GROUPS (%d)    members, local, messages/s, view, members oldest first", len(g.Groups)))
		rate := groupRates(p, s)
		for _, gi := range g.Groups {
			lines = append(lines, fmt.Sprintf("  %-20s %3d %3d %8s  %-14s %s", gi.Name, len(gi.Members), gi.LocalMembers, rate(gi), gi.ViewID, strings.Join(gi.Members, " ")))
		}
	}
	if cl := s.clients; cl != nil {
		lines = append(lines, "", fmt.Sprintf("CLIENTS (%d)", len(cl.Clients)))
		for _, ci := range cl.Clients {
			lines = append(lines, fmt.Sprintf("  %-20s %-5s queued %d frames %d bytes  groups %s", ci.Name, ci.Via, ci.QueuedFrames, ci.QueuedBytes, dash(strings.Join(ci.Groups, " "))))
		}
	}
	if e := s.events; e != nil && len(e.Events) > 0 {
		lines = append(lines, "", "EVENTS")
		for _, ev := range e.Events[max(len(e.Events)-4, 0):] {
			lines = append(lines, fmt.Sprintf("  %s  %-16s %s  %s", ev.Time.Local().Format(time.TimeOnly), ev.Kind, dash(ev.Ring), eventDetail(&ev)))
		}
	}
	return lines
}

// groupRates returns the rate of a group's deliveries between two
// snapshots, "-" for a group that was not in the earlier one.
func groupRates(p, s *snapshot) func(agent.GroupInfo) string {
	before := map[string]uint64{}
	if p.groups != nil {
		for _, g := range p.groups.Groups {
			before[g.Name] = g.Delivered
		}
	}
	dt := s.at.Sub(p.at).Seconds()
	return func(g agent.GroupInfo) string {
		d, ok := before[g.Name]
		if !ok || dt <= 0 || g.Delivered < d {
			return "-"
		}
		return fmt.Sprintf("%.1f", float64(g.Delivered-d)/dt)
	}
}

// rates says what moved between two snapshots: the token's rotation time
// and the rates of deliveries and retransmissions.
func rates(p, s *snapshot) string {
	if p.st == nil || !s.at.After(p.at) {
		return "rates: after the next refresh"
	}
	a, b := &p.st.Counters, &s.st.Counters
	dt := s.at.Sub(p.at).Seconds()
	per := func(x, y uint64) float64 {
		if y < x { // the agent restarted
			return 0
		}
		return float64(y-x) / dt
	}
	rot := "-"
	if n := s.st.TokenRotation.Count - p.st.TokenRotation.Count; n > 0 {
		rot = ((s.st.TokenRotation.Sum - p.st.TokenRotation.Sum) / time.Duration(n)).Round(time.Microsecond).String()
	}
	return fmt.Sprintf("rotation %s  delivered %.1f msg/s  group messages %.1f/s  packets in %.1f/s out %.1f/s  retransmits %.1f/s",
		rot, per(a.MessagesDelivered, b.MessagesDelivered), per(a.GroupDelivered, b.GroupDelivered),
		per(a.PacketsIn, b.PacketsIn), per(a.PacketsOut, b.PacketsOut), per(a.Retransmits, b.Retransmits))
}
