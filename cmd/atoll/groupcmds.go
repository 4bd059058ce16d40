package main

import (
	"context"
	"crypto/tls"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/spf13/cobra"

	"github.com/atoll-gcs/atoll/agent"
	"github.com/atoll-gcs/atoll/client"
	"github.com/atoll-gcs/atoll/localring"
)

// The commands of applications: join, send, recv and groups, and members
// --group (members.go). They talk to the local agent's client socket, like
// any program using package client.

func init() {
	register(newJoinCmd)
	register(newSendCmd)
	register(newRecvCmd)
	register(newGroupsCmd)
}

// clientFlags are the connection flags of the client commands.
type clientFlags struct {
	dataDir, socket, name, output string
	raw                           bool // recv --raw
	// connect is the agent's address; the TLS files are for tcp+tls://.
	connect, tlsCA, tlsCert, tlsKey, tlsServerName string
}

// jsonLines and jsonArray are the help of -o for commands that print a
// stream of events and for those that print one list.
const (
	jsonLines = "output format: text or json (one JSON object per line, per event)"
	jsonArray = "output format: text or json (one JSON array)"
)

// add adds the connection flags to cmd, and -o with outputHelp unless it
// is empty.
func (f *clientFlags) add(cmd *cobra.Command, outputHelp string) {
	fl := cmd.Flags()
	fl.StringVar(&f.dataDir, "data-dir", defaultDataDir, "the agent's data dir; its client socket is DATA-DIR/"+agent.ClientSocketName)
	fl.StringVar(&f.socket, "socket", "", "the agent's client socket (default DATA-DIR/"+agent.ClientSocketName+")")
	fl.StringVar(&f.connect, "connect", "", "the agent's `ADDRESS`: unix:///path/client.sock, or tcp+tls://HOST:PORT for an agent's --client-listen (default: the client socket of --data-dir)")
	fl.StringVar(&f.tlsCA, "tls-ca", "", "with --connect tcp+tls://: verify the agent's certificate against the CA in `FILE` (PEM; default: the system's roots)")
	fl.StringVar(&f.tlsCert, "tls-cert", "", "with --connect tcp+tls://: this client's certificate `FILE` (PEM), for an agent that requires one (--client-ca); its common name is the client's cn: principal")
	fl.StringVar(&f.tlsKey, "tls-key", "", "the private key `FILE` (PEM) of --tls-cert")
	fl.StringVar(&f.tlsServerName, "tls-server-name", "", "with --connect tcp+tls://: the name the agent's certificate must carry (default: HOST)")
	fl.StringVar(&f.name, "name", "", "the client name (default: one the agent picks)")
	if outputHelp != "" {
		fl.StringVarP(&f.output, "output", "o", "text", outputHelp)
	}
}

func (f *clientFlags) check() error {
	if f.output != "" && f.output != "text" && f.output != "json" {
		return fmt.Errorf("--output %q: use text or json", f.output)
	}
	return nil
}

// dial connects to the agent; an agent that cannot be reached is exit
// status exitUnreachable, as for status.
func (f *clientFlags) dial(ctx context.Context) (*client.Client, error) {
	addr, opts, err := f.address()
	if err != nil {
		return nil, usageError(err)
	}
	dctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if f.name != "" {
		opts = append(opts, client.WithName(f.name))
	}
	c, err := client.Dial(dctx, addr, opts...)
	if err != nil {
		if client.CodeOf(err) == 0 {
			return nil, unreachable(fmt.Errorf("%w (%s)", err, f.unreachableHint(err)))
		}
		return nil, err
	}
	return c, nil
}

// address returns the agent's address from --connect, --socket or
// --data-dir, with the TLS option of --tls-* for a tcp+tls:// address.
func (f *clientFlags) address() (string, []client.Option, error) {
	addr := f.connect
	switch {
	case addr != "" && f.socket != "":
		return "", nil, fmt.Errorf("--connect and --socket both name the agent; give one")
	case addr == "":
		addr = f.socket
		if addr == "" {
			addr = f.dataDir + "/" + agent.ClientSocketName
		}
		if !strings.Contains(addr, "://") {
			addr = "unix://" + addr
		}
	}
	useTLS := f.tlsCA != "" || f.tlsCert != "" || f.tlsKey != "" || f.tlsServerName != ""
	if !strings.HasPrefix(addr, "tcp+tls://") {
		if useTLS {
			return "", nil, fmt.Errorf("--tls-ca, --tls-cert, --tls-key and --tls-server-name need --connect tcp+tls://HOST:PORT")
		}
		return addr, nil, nil
	}
	tc := &tls.Config{ServerName: f.tlsServerName, MinVersion: tls.VersionTLS12}
	if f.tlsCA != "" {
		var err error
		if tc.RootCAs, err = certPool("--tls-ca", f.tlsCA); err != nil {
			return "", nil, err
		}
	}
	if (f.tlsCert == "") != (f.tlsKey == "") {
		return "", nil, fmt.Errorf("--tls-cert and --tls-key go together")
	}
	if f.tlsCert != "" {
		cert, err := tls.LoadX509KeyPair(f.tlsCert, f.tlsKey)
		if err != nil {
			return "", nil, fmt.Errorf("--tls-cert %s, --tls-key %s: %w", f.tlsCert, f.tlsKey, err)
		}
		tc.Certificates = []tls.Certificate{cert}
	}
	return addr, []client.Option{client.WithTLS(tc)}, nil
}

// unreachableHint says what to do about a connection error.
func (f *clientFlags) unreachableHint(err error) string {
	switch {
	case errors.Is(err, fs.ErrPermission):
		return "permission denied: the client socket is for the agent's user and group; run this as a member of the agent's group, and check that the data dir is mode 0750"
	case errors.Is(err, syscall.ECONNREFUSED):
		return "connection refused: is the agent running?"
	}
	if f.connect != "" {
		return fmt.Sprintf("is an agent serving clients at %s?", f.connect)
	}
	return fmt.Sprintf("is the agent running with --data-dir %s?", f.dataDir)
}

// interruptible returns a context cancelled by SIGINT and SIGTERM.
func interruptible(ctx context.Context) (context.Context, context.CancelFunc) {
	return signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
}

func newJoinCmd() *cobra.Command {
	var (
		f     clientFlags
		count int
	)
	cmd := &cobra.Command{
		Use:   "join GROUP... [--count N] [-o text|json]",
		Short: "Join groups and print their views and messages until interrupted",
		Long: `Join connects to the local agent, joins the groups and prints every view
(members, oldest first, what changed and why) and every message the groups
receive, until interrupted (SIGINT, SIGTERM) or, with --count, after N views.
On the way out it leaves the groups, so the other members see reason leave.

With -o json each event is one JSON object per line: {"event":"view",...},
{"event":"message",...}, {"event":"left",...}, {"event":"error",...}.`,
		Example: `  atoll join chat
  atoll join orders audit --name auditor -o json`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := f.check(); err != nil {
				return err
			}
			return runMember(cmd, &f, args, count, 0, true)
		},
	}
	f.add(cmd, jsonLines)
	cmd.Flags().IntVar(&count, "count", 0, "exit after this many views (0: run until interrupted)")
	return cmd
}

func newRecvCmd() *cobra.Command {
	var (
		f     clientFlags
		count int
	)
	cmd := &cobra.Command{
		Use:   "recv GROUP [--count N] [-o text|json]",
		Short: "Join a group and print the messages it receives",
		Long: `Recv joins the group and prints the payload of every message the group
receives from then on, one per line, until interrupted or, with --count,
after N messages. It leaves the group on the way out.

A payload is printed safe for a terminal and on one line: printable UTF-8
as it is, a backslash as \\, newline, carriage return and tab as \n, \r
and \t, other control characters (escape sequences) and bytes that are not
UTF-8 as \xNN, \uNNNN. With -o json each message is one JSON object per
line with the sender, groups, service level, type, sequence number, order
and payload (payload_base64 when it is not UTF-8). With --raw the payloads
are written exactly as they are, with nothing between them (for one
binary message: --count 1 --raw > FILE).`,
		Example: `  atoll recv chat --count 1
  atoll recv orders -o json | jq .payload`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := f.check(); err != nil {
				return err
			}
			if f.raw && f.output == "json" {
				return fmt.Errorf("recv: --raw and -o json exclude each other")
			}
			return runMember(cmd, &f, args, 0, count, false)
		},
	}
	f.add(cmd, jsonLines)
	cmd.Flags().BoolVar(&f.raw, "raw", false, "write the payloads exactly as they are, with nothing between them")
	cmd.Flags().IntVar(&count, "count", 0, "exit after this many messages (0: run until interrupted)")
	return cmd
}

// runMember joins groups and prints events until the context ends, the
// session ends, or the counts are reached.
func runMember(cmd *cobra.Command, f *clientFlags, groups []string, views, msgs int, showViews bool) error {
	ctx, stop := interruptible(cmd.Context())
	defer stop()
	c, err := f.dial(ctx)
	if err != nil {
		return err
	}
	defer c.Close()
	for _, g := range groups {
		if err := c.Join(ctx, g); err != nil {
			return err
		}
	}
	p := &printer{w: cmd.OutOrStdout(), json: f.output == "json", raw: f.raw, errw: cmd.ErrOrStderr()}
	nviews, nmsgs := 0, 0
	for {
		select {
		case <-ctx.Done():
			leave(c, groups)
			return nil
		case e, ok := <-c.Events():
			if !ok {
				return fmt.Errorf("the session with agent %s ended: %w", c.Node(), c.Err())
			}
			switch e.Kind {
			case client.EventView:
				if showViews {
					p.view(e.View)
				}
				if !e.View.Transitional {
					nviews++
				}
			case client.EventMessage:
				if showViews {
					p.message(e.Message)
				} else {
					p.payload(e.Message)
				}
				nmsgs++
			case client.EventLeft:
				p.event("left", e.Group, "")
			case client.EventError:
				p.event("error", e.Group, e.Err.Error())
			case client.EventWarning:
				p.event("warning", "", e.Err.Error())
			}
			if views > 0 && nviews >= views || msgs > 0 && nmsgs >= msgs {
				leave(c, groups)
				return nil
			}
		}
	}
}

// leave leaves the groups before the session closes, so that the others
// see reason leave rather than disconnect.
func leave(c *client.Client, groups []string) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	for _, g := range groups {
		c.Leave(ctx, g)
	}
	c.Flush(ctx)
}

// printer prints a client's events as text or JSON lines.
type printer struct {
	w    io.Writer
	errw io.Writer
	json bool
	raw  bool // payloads as they are, nothing added (recv --raw)
}

func (p *printer) jsonLine(v any) {
	b, _ := json.Marshal(v)
	fmt.Fprintf(p.w, "%s\n", b)
}

type jsonView struct {
	Event string `json:"event"`
	*client.View
}

type jsonMessage struct {
	Event         string         `json:"event"`
	Sender        string         `json:"sender"`
	Groups        []string       `json:"groups,omitempty"`
	To            string         `json:"to,omitempty"`
	Svc           client.Service `json:"svc"`
	Type          uint16         `json:"type"`
	Seq           uint64         `json:"seq"`
	Order         uint64         `json:"order"`
	ID            string         `json:"id"`
	Payload       *string        `json:"payload,omitempty"`
	PayloadBase64 *string        `json:"payload_base64,omitempty"`
}

func (p *printer) view(v *client.View) {
	if p.json {
		p.jsonLine(jsonView{Event: "view", View: v})
		return
	}
	kind := "view"
	if v.Transitional {
		kind = "transitional view"
	}
	fmt.Fprintf(p.w, "%s of %s %s: %s", kind, v.Group, v.ID, strings.Join(v.Members, " "))
	if !v.Transitional {
		fmt.Fprintf(p.w, " (%s", v.Reason)
		if len(v.Joined) > 0 {
			fmt.Fprintf(p.w, "; joined %s", strings.Join(v.Joined, " "))
		}
		if len(v.Left) > 0 {
			fmt.Fprintf(p.w, "; left %s", strings.Join(v.Left, " "))
		}
		fmt.Fprint(p.w, ")")
	}
	fmt.Fprintln(p.w)
}

func jsonMsg(m *client.Message) jsonMessage {
	j := jsonMessage{Event: "message", Sender: m.Sender, Groups: m.Groups, To: m.To, Svc: m.Svc, Type: m.Type, Seq: m.Seq, Order: m.Order, ID: m.ID}
	if utf8.Valid(m.Payload) {
		s := string(m.Payload)
		j.Payload = &s
	} else {
		s := base64.StdEncoding.EncodeToString(m.Payload)
		j.PayloadBase64 = &s
	}
	return j
}

func (p *printer) message(m *client.Message) {
	if p.json {
		p.jsonLine(jsonMsg(m))
		return
	}
	to := strings.Join(m.Groups, ",")
	if m.To != "" {
		to = "to " + m.To
	}
	fmt.Fprintf(p.w, "message %s from %s (%s, type %d): %s\n", to, m.Sender, m.Svc, m.Type, escape(m.Payload))
}

func (p *printer) payload(m *client.Message) {
	switch {
	case p.json:
		p.jsonLine(jsonMsg(m))
	case p.raw:
		p.w.Write(m.Payload)
	default:
		fmt.Fprintf(p.w, "%s\n", escape(m.Payload))
	}
}

func (p *printer) event(kind, group, text string) {
	if p.json {
		p.jsonLine(map[string]string{"event": kind, "group": group, "error": text})
		return
	}
	if kind == "left" {
		fmt.Fprintf(p.w, "left %s\n", group)
		return
	}
	fmt.Fprintf(p.errw, "atoll: %s\n", text)
}

// escape makes a payload safe for a terminal and one line long: printable
// UTF-8 stays as it is; a backslash becomes \\, newline, carriage return
// and tab \n, \r and \t, other control and format characters (escape
// sequences, bidirectional overrides) \xNN, \uNNNN or \UNNNNNNNN, and
// bytes that are not UTF-8 \xNN. The output can be read back
// unambiguously (as a Go string literal's escapes read).
func escape(b []byte) string {
	var sb strings.Builder
	sb.Grow(len(b))
	for len(b) > 0 {
		r, size := utf8.DecodeRune(b)
		switch {
		case r == utf8.RuneError && size <= 1:
			fmt.Fprintf(&sb, `\x%02x`, b[0])
		case r == '\\':
			sb.WriteString(`\\`)
		case r == '\n':
			sb.WriteString(`\n`)
		case r == '\r':
			sb.WriteString(`\r`)
		case r == '\t':
			sb.WriteString(`\t`)
		case r == ' ' || unicode.IsPrint(r):
			sb.Write(b[:size])
		case r < 0x80:
			fmt.Fprintf(&sb, `\x%02x`, r)
		case r <= 0xffff:
			fmt.Fprintf(&sb, `\u%04x`, r)
		default:
			fmt.Fprintf(&sb, `\U%08x`, r)
		}
		b = b[size:]
	}
	return sb.String()
}

func newSendCmd() *cobra.Command {
	var (
		f       clientFlags
		svcName string
		msgType uint16
		to      string
	)
	cmd := &cobra.Command{
		Use:   "send GROUP[,GROUP...] MESSAGE | send --to MEMBER MESSAGE",
		Short: "Multicast a message to groups, or send it to one member",
		Long: `Send multicasts MESSAGE ("-" reads it from standard input) to the groups
(several, comma-separated, make one message that every member of any of
them receives once), or with --to sends it point-to-point to one member
("node:client", as views list members; a name in no group's view is
refused). The sender need not be a member,
unless a group's ACL says so.

Send exits 0 once the ring has sent the message: from then on it is
delivered to every member that stays connected. It exits 1 when the
agent refuses the message (the error says why: bad group name, too large,
denied by the group's ACL, agent shutting down) and 3 when no agent
answers.`,
		Example: `  atoll send chat 'hello, world'
  atoll send orders,audit - --svc safe --type 7 < order.json
  atoll send --to fra-2:alice 'just for you'`,
		Args: func(cmd *cobra.Command, args []string) error {
			if to != "" {
				return cobra.ExactArgs(1)(cmd, args)
			}
			return cobra.ExactArgs(2)(cmd, args)
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			svc, err := client.ParseService(svcName)
			if err != nil {
				return err
			}
			msg := args[len(args)-1]
			payload := []byte(msg)
			if msg == "-" {
				if payload, err = readMessage(cmd.InOrStdin()); err != nil {
					return err
				}
			}
			ctx, stop := interruptible(cmd.Context())
			defer stop()
			c, err := f.dial(ctx)
			if err != nil {
				return err
			}
			defer c.Close()
			if to != "" {
				err = c.Send(ctx, to, svc, msgType, payload)
			} else {
				err = c.Multicast(ctx, svc, msgType, strings.Split(args[0], ","), payload)
			}
			if err == nil {
				err = c.Flush(ctx)
			}
			// The agent's refusal of the message arrives before the
			// flush's reply.
		drain:
			for err == nil {
				select {
				case e, ok := <-c.Events():
					if !ok {
						break drain
					}
					if e.Kind == client.EventError {
						err = e.Err
					}
				default:
					break drain
				}
			}
			return err
		},
	}
	f.add(cmd, "")
	fl := cmd.Flags()
	fl.StringVar(&svcName, "svc", "agreed", "service level: unreliable, reliable, fifo, causal, agreed or safe")
	fl.Uint16Var(&msgType, "type", 0, "the application's message type (0-65535)")
	fl.StringVar(&to, "to", "", "send point-to-point to this member (node:client) instead of to groups")
	return cmd
}

// readMessage reads a message from r, refusing one larger than any agent
// accepts with its real size (the rest of r is read and counted, not
// kept). A message that fits is checked against the agent's own limit
// when it is sent.
func readMessage(r io.Reader) ([]byte, error) {
	b, err := io.ReadAll(io.LimitReader(r, localring.MaxMessageBytes+1))
	if err == nil && len(b) > localring.MaxMessageBytes {
		var rest int64
		rest, err = io.Copy(io.Discard, r)
		if err == nil {
			return nil, fmt.Errorf("send: the message on standard input is %d bytes; the largest message is %d bytes", int64(len(b))+rest, localring.MaxMessageBytes)
		}
	}
	if err != nil {
		return nil, fmt.Errorf("send: reading the message from standard input: %w", err)
	}
	return b, nil
}

func newGroupsCmd() *cobra.Command {
	var f clientFlags
	var out readFlags
	cmd := &cobra.Command{
		Use:   "groups [-o table|json] [--watch]",
		Short: "List the groups with members, as the local agent knows them",
		Long: `Groups lists every group that has members in the agent's ring: its name, its
number of members and its current view id. 'atoll members --group G' lists
one group's members. With -o json it prints one JSON array of objects
{"group", "members", "view_id"} (an empty array when no group has members).
It asks over the client socket, so any client may run it; 'atoll inspect
groups' reads the same from the introspection API, with the members.
--watch prints it again every --interval, in place, until interrupted.`,
		Example: `  atoll groups
  atoll groups -o json | jq '.[] | select(.members > 10)'
  atoll groups --watch`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := out.check("groups"); err != nil {
				return err
			}
			c, err := f.dial(cmd.Context())
			if err != nil {
				return err
			}
			defer c.Close()
			_, err = show(cmd, &out, func(ctx context.Context) ([]client.GroupInfo, error) {
				gs, err := c.Groups(ctx)
				if gs == nil && err == nil {
					gs = []client.GroupInfo{}
				}
				return gs, err
			}, func(w io.Writer, gs []client.GroupInfo) {
				tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
				fmt.Fprintln(tw, "GROUP\tMEMBERS\tVIEW")
				for _, g := range gs {
					fmt.Fprintf(tw, "%s\t%d\t%s\n", g.Group, g.Members, g.ViewID)
				}
				tw.Flush()
			})
			return err
		},
	}
	f.add(cmd, "")
	out.add(cmd, "one JSON array")
	usageExits(cmd)
	return cmd
}

// errNoMembers: the group of `members --group` has no members.
var errNoMembers = errors.New("no members")

// groupMembers is `atoll members --group G`: the group's current view.
func groupMembers(cmd *cobra.Command, f *clientFlags, out *readFlags, group string) error {
	c, err := f.dial(cmd.Context())
	if err != nil {
		return err
	}
	defer c.Close()
	_, err = show(cmd, out, func(ctx context.Context) (client.View, error) {
		v, found, err := c.View(ctx, group)
		if err == nil && !found {
			err = fmt.Errorf("members: group %q has no members at agent %s: %w", group, c.Node(), errNoMembers)
		}
		return v, err
	}, func(w io.Writer, v client.View) { writeView(w, v, c.Node()) })
	if errors.Is(err, errNoMembers) {
		return &exitError{code: 1, err: err}
	}
	return err
}

// writeView prints a group's view, as `members --group` does.
func writeView(w io.Writer, v client.View, node string) {
	kind := "view"
	if v.Transitional {
		kind = "transitional view"
	}
	fmt.Fprintf(w, "group %s, %s %s, seen from %s\n", v.Group, kind, v.ID, node)
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "#\tMEMBER\tNODE\tCLIENT")
	for i, m := range v.Members {
		node, cl := m, ""
		if j := strings.LastIndexByte(m, ':'); j >= 0 {
			node, cl = m[:j], m[j+1:]
		}
		mark := ""
		if i == 0 {
			mark = " (leader)"
		}
		fmt.Fprintf(tw, "%d\t%s%s\t%s\t%s\n", i+1, m, mark, node, cl)
	}
	tw.Flush()
}

// clientListenFlags are the agent's flags for its client listeners.
type clientListenFlags struct {
	socket, listen, cert, key, ca string
	anonymous                     bool // --insecure-clients
}

// apply sets the client listeners of cfg from the flags.
func (f *clientListenFlags) apply(cfg *agent.Config) error {
	if f.socket != "" {
		cfg.ClientSocket = f.socket
	}
	if f.listen == "" {
		if f.cert != "" || f.key != "" || f.ca != "" || f.anonymous {
			return fmt.Errorf("agent: --client-cert, --client-key, --client-ca and --insecure-clients need --client-listen")
		}
		return nil
	}
	if f.cert == "" || f.key == "" {
		return fmt.Errorf("agent: --client-listen %s needs --client-cert and --client-key: clients connect over TCP with TLS only", f.listen)
	}
	cert, err := tls.LoadX509KeyPair(f.cert, f.key)
	if err != nil {
		return fmt.Errorf("agent: --client-cert %s, --client-key %s: %w", f.cert, f.key, err)
	}
	tc := &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	if f.ca != "" {
		pool, err := certPool("--client-ca", f.ca)
		if err != nil {
			return fmt.Errorf("agent: %w", err)
		}
		tc.ClientCAs, tc.ClientAuth = pool, tls.RequireAndVerifyClientCert
	} else if !f.anonymous {
		return fmt.Errorf("agent: --client-listen %s without --client-ca would let anyone who reaches the port connect, join groups and send to every group without an ACL; give --client-ca FILE to require client certificates (mutual TLS), or confirm anonymous clients with --insecure-clients", f.listen)
	}
	cfg.ClientListen, cfg.ClientTLS = f.listen, tc
	return nil
}
