package agent

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/atoll-gcs/atoll/federation"
)

// The admin API is HTTP with JSON bodies on a Unix socket in the data dir
// (mode 0600, or 0660 for API.OperatorsGroup) and, with API.HTTPListen,
// on TCP. Each route needs a role (access.go): r read, a admin.
//
//	GET  /v1/status      r  Status, with the effective configuration
//	GET  /v1/ring        r  RingInfo: the local ring, rotation, retransmissions, flow control
//	GET  /v1/members     r  MembersReply: the site's nodes
//	GET  /v1/groups      r  GroupsReply: groups with members and their views
//	GET  /v1/clients     r  ClientsReply: client sessions and their queues
//	GET  /v1/federation  r  FederationInfo: federation domains, gateways, rings
//	GET  /v1/plan        r  PlanInfo: the plan and its hash
//	GET  /v1/events      r  EventsReply: recent membership events (?since=SEQ)
//	GET  /v1/log-level   r  LogLevelReply
//	PUT  /v1/log-level   a  LogLevelReply: set the log level
//	POST /v1/clients/{name}/evict      a  EvictRequest: disconnect a client
//	POST /v1/federation/{domain}/handover  a  HandoverRequest (optional) → HandoverReply: move the
//	                     site's active gateway role (Agent.Handover); 200 once it took effect, 202
//	                     when not within HandoverWait, 409 refused (the text says why and what to do)
//	GET  /metrics        r  Prometheus metrics (Agent.Metrics), in the format the scraper asks for
//	GET  /load, PUT /load  a  the built-in load generator (Load as JSON), for tests and benchmarks;
//	                       PUT /load?domain=FED sets the load of the node's federation ring member
//	GET  /debug/pprof/   a  the Go profiler (`atoll agent` runs with the memory profiler's sampling
//	                     off, so heap and allocs are empty unless GODEBUG=memprofilerate=524288)
//
// /status and /members are the same as their /v1 forms. Errors are plain
// text for people, with status 400 (bad request), 401 (no or a wrong
// token), 403 (the role does not allow it), 404 (no such client or
// domain), 409 (a handover refused), 501 (not supported) or 503 (the
// agent is stopping). Client
// talks to it.

// listenAdmin opens the admin socket, replacing a stale socket file (the
// caller holds the data dir's lock, so no other agent uses it), and shares
// it with the operators' group gid when there is one.
func listenAdmin(path, gid string) (net.Listener, error) {
	if fi, err := os.Lstat(path); err == nil {
		if fi.Mode()&os.ModeSocket == 0 {
			return nil, fmt.Errorf("agent: admin socket path %s exists and is not a socket; remove it or choose another --admin-socket", path)
		}
		os.Remove(path)
	}
	l, err := net.Listen("unix", path)
	if err != nil {
		return nil, fmt.Errorf("agent: admin socket: %w", err)
	}
	err = os.Chmod(path, 0o600)
	if err == nil && gid != "" {
		err = shareAdminSocket(path, gid)
	}
	if err != nil {
		l.Close()
		return nil, fmt.Errorf("agent: admin socket: %w", err)
	}
	return l, nil
}

type adminServer struct {
	a    *Agent
	mux  *http.ServeMux
	srvs []*http.Server
}

func newAdminServer(a *Agent) *adminServer {
	s := &adminServer{a: a, mux: http.NewServeMux()}
	read := func(pattern string, h http.HandlerFunc) { s.mux.Handle(pattern, need(RoleRead, h)) }
	admin := func(pattern string, h http.HandlerFunc) { s.mux.Handle(pattern, need(RoleAdmin, h)) }
	status := func(w http.ResponseWriter, r *http.Request) { writeJSON(w, a.Status()) }
	members := func(w http.ResponseWriter, r *http.Request) {
		st := a.Status()
		writeJSON(w, MembersReply{Node: st.Node, Ring: st.Ring, Health: st.Health, Members: st.Members})
	}
	read("GET /status", status)
	read("GET /v1/status", status)
	read("GET /members", members)
	read("GET /v1/members", members)
	read("GET /v1/ring", func(w http.ResponseWriter, r *http.Request) { writeJSON(w, a.Ring()) })
	read("GET /v1/groups", func(w http.ResponseWriter, r *http.Request) {
		gs, err := a.Groups(r.Context())
		reply(w, GroupsReply{Node: a.cfg.Node, Groups: nonNil(gs)}, err)
	})
	read("GET /v1/clients", func(w http.ResponseWriter, r *http.Request) {
		cs, err := a.Clients(r.Context())
		reply(w, ClientsReply{Node: a.cfg.Node, Clients: nonNil(cs)}, err)
	})
	read("GET /v1/federation", func(w http.ResponseWriter, r *http.Request) { writeJSON(w, a.Federation()) })
	read("GET /v1/plan", func(w http.ResponseWriter, r *http.Request) {
		p, err := a.Plan()
		reply(w, p, err)
	})
	read("GET /v1/events", func(w http.ResponseWriter, r *http.Request) {
		var since uint64
		if v := r.URL.Query().Get("since"); v != "" {
			var err error
			if since, err = strconv.ParseUint(v, 10, 64); err != nil {
				http.Error(w, fmt.Sprintf("agent: events: since=%q is not an event number", v), http.StatusBadRequest)
				return
			}
		}
		writeJSON(w, EventsReply{Node: a.cfg.Node, Events: nonNil(a.Events(since))})
	})
	read("GET /v1/log-level", func(w http.ResponseWriter, r *http.Request) {
		lv := LogLevelReply{Level: "unknown"}
		if l, ok := a.LogLevel(); ok {
			lv = LogLevelReply{Level: levelName(l), Changeable: true}
		}
		reply(w, lv, nil)
	})
	admin("PUT /v1/log-level", func(w http.ResponseWriter, r *http.Request) {
		var req LogLevelReply
		if !decode(w, r, &req) {
			return
		}
		var l slog.Level
		if err := l.UnmarshalText([]byte(req.Level)); err != nil {
			http.Error(w, fmt.Sprintf("agent: log level %q: use debug, info, warn or error", req.Level), http.StatusBadRequest)
			return
		}
		err := a.SetLogLevel(l)
		reply(w, LogLevelReply{Level: levelName(l), Changeable: err == nil}, err)
	})
	admin("POST /v1/clients/{name}/evict", func(w http.ResponseWriter, r *http.Request) {
		var req EvictRequest
		if r.ContentLength != 0 && !decode(w, r, &req) {
			return
		}
		reply(w, nil, a.EvictClient(r.PathValue("name"), req.Reason))
	})
	admin("POST /v1/federation/{domain}/handover", func(w http.ResponseWriter, r *http.Request) {
		var req HandoverRequest
		if r.ContentLength != 0 && !decode(w, r, &req) {
			return
		}
		hr, err := a.Handover(r.Context(), r.PathValue("domain"), req.To)
		if err == nil && !hr.Agreed {
			writeJSONStatus(w, http.StatusAccepted, hr)
			return
		}
		reply(w, hr, err)
	})
	s.mux.Handle("GET /metrics", need(RoleRead, metricsHandler(a, a.Metrics()).ServeHTTP))
	admin("GET /load", func(w http.ResponseWriter, r *http.Request) { writeJSON(w, a.Status().Load) })
	admin("PUT /load", func(w http.ResponseWriter, r *http.Request) {
		var l Load
		if !decode(w, r, &l) {
			return
		}
		if d := r.URL.Query().Get("domain"); d != "" {
			if err := l.normalize(); err != nil {
				http.Error(w, err.Error(), http.StatusBadRequest)
				return
			}
			if a.fed == nil {
				http.Error(w, "agent: node "+a.cfg.Node+" runs no federation ring", http.StatusBadRequest)
				return
			}
			if err := a.fed.setLoad(d, l); err != nil {
				http.Error(w, err.Error(), http.StatusBadRequest)
				return
			}
			w.WriteHeader(http.StatusNoContent)
			return
		}
		if err := a.SetLoad(l); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	})
	admin("/debug/pprof/", pprof.Index)
	admin("/debug/pprof/cmdline", pprof.Cmdline)
	admin("/debug/pprof/profile", pprof.Profile)
	admin("/debug/pprof/symbol", pprof.Symbol)
	admin("/debug/pprof/trace", pprof.Trace)
	return s
}

// levelName names l as --log-level does: debug, info, warn, error.
func levelName(l slog.Level) string { return strings.ToLower(l.String()) }

// need lets a request through when its role is at least min.
func need(min Role, h http.HandlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if got := roleOf(r.Context()); got < min {
			http.Error(w, fmt.Sprintf("agent: %s %s needs the %s role; this caller has the %s role (%s)", r.Method, r.URL.Path, min, got, roleHint(min)), http.StatusForbidden)
			return
		}
		h(w, r)
	})
}

func roleHint(min Role) string {
	if min == RoleAdmin {
		return "over the admin socket: the agent's user or root; over HTTP: the admin token"
	}
	return "over the admin socket: the agent's user, root or a member of the operators' group; over HTTP: the read or admin token"
}

// decode reads a small JSON body into v, answering 400 when it cannot.
func decode(w http.ResponseWriter, r *http.Request, v any) bool {
	dec := json.NewDecoder(io.LimitReader(r.Body, 4096))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		http.Error(w, fmt.Sprintf("agent: %s %s: bad request body: %v", r.Method, r.URL.Path, err), http.StatusBadRequest)
		return false
	}
	return true
}

// reply writes v, or err with the status its kind calls for; a nil v
// without error is 204.
func reply(w http.ResponseWriter, v any, err error) {
	switch {
	case errors.Is(err, ErrNotFound):
		http.Error(w, err.Error(), http.StatusNotFound)
	case errors.Is(err, ErrNotSupported):
		http.Error(w, err.Error(), http.StatusNotImplemented)
	case errors.Is(err, federation.ErrHandoverRefused):
		http.Error(w, "agent: "+err.Error(), http.StatusConflict)
	case errors.Is(err, ErrStopped), errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		http.Error(w, "agent: "+err.Error(), http.StatusServiceUnavailable)
	case err != nil:
		http.Error(w, err.Error(), http.StatusInternalServerError)
	case v == nil:
		w.WriteHeader(http.StatusNoContent)
	default:
		writeJSON(w, v)
	}
}

func nonNil[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}

// unixServer returns the API's server for the admin socket: each
// connection has the role of its peer's credentials.
func (s *adminServer) unixServer(gid string) *http.Server {
	return &http.Server{Handler: s.mux, ReadHeaderTimeout: 5 * time.Second,
		ConnContext: func(ctx context.Context, c net.Conn) context.Context { return withRole(ctx, unixRole(c, gid)) }}
}

// httpServer returns the API's server for TCP: each request has the role
// of its bearer token.
func (s *adminServer) httpServer(t tokens) *http.Server {
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		role := t.role(r)
		if role == RoleNone {
			w.Header().Set("WWW-Authenticate", `Bearer realm="atoll"`)
			http.Error(w, "agent: the API needs a bearer token: send \"Authorization: Bearer TOKEN\" with the read or admin token (atoll: --api-token-file)", http.StatusUnauthorized)
			return
		}
		s.mux.ServeHTTP(w, r.WithContext(withRole(r.Context(), role)))
	})
	return &http.Server{Handler: h, ReadHeaderTimeout: 5 * time.Second}
}

// start serves srv on l, in a goroutine of wg, until shutdown. Call start
// and shutdown from one goroutine.
func (s *adminServer) start(wg *sync.WaitGroup, l net.Listener, srv *http.Server) {
	s.srvs = append(s.srvs, srv)
	wg.Go(func() {
		if err := srv.Serve(l); err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.a.log.Error("admin API stopped", "listener", l.Addr().String(), "err", err)
		}
	})
}

func (s *adminServer) shutdown() {
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	for _, srv := range s.srvs {
		if err := srv.Shutdown(ctx); err != nil {
			srv.Close()
		}
	}
}

func writeJSON(w http.ResponseWriter, v any) { writeJSONStatus(w, http.StatusOK, v) }

// writeJSONStatus writes v with the status code.
func writeJSONStatus(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.WriteHeader(code)
	w.Write(append(b, '\n'))
}

// MembersReply is the body of /members.
type MembersReply struct {
	Node    string         `json:"node"`
	Ring    string         `json:"ring,omitempty"`
	Health  Health         `json:"health"`
	Members []MemberStatus `json:"members"`
}

// GroupsReply is the body of /v1/groups.
type GroupsReply struct {
	Node   string      `json:"node"`
	Groups []GroupInfo `json:"groups"`
}

// ClientsReply is the body of /v1/clients.
type ClientsReply struct {
	Node    string       `json:"node"`
	Clients []ClientInfo `json:"clients"`
}

// EventsReply is the body of /v1/events.
type EventsReply struct {
	Node   string            `json:"node"`
	Events []MembershipEvent `json:"events"`
}

// LogLevelReply is the body of GET and PUT /v1/log-level: the level
// (debug, info, warn, error; unknown when the agent was started without
// Config.LogLevel) and whether it can be changed.
type LogLevelReply struct {
	Level      string `json:"level"`
	Changeable bool   `json:"changeable,omitempty"`
}

// EvictRequest is the body of POST /v1/clients/{name}/evict.
type EvictRequest struct {
	// Reason is told to the client and logged.
	Reason string `json:"reason,omitempty"`
}

// Client calls an agent's introspection API over its admin Unix socket
// (NewClient) or over HTTP (NewHTTPClient).
type Client struct {
	socket string // the admin socket, or
	url    string // the base URL of the HTTP listener
	token  string
	hc     *http.Client
}

// NewClient returns a client for the admin socket at path.
func NewClient(path string) *Client {
	tr := &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", path)
		},
		DisableKeepAlives: true,
	}
	return &Client{socket: path, hc: &http.Client{Transport: tr, Timeout: 5 * time.Second}}
}

// NewHTTPClient returns a client for the API's HTTP listener at base
// ("http://127.0.0.1:9406", or https:// for a listener with a
// certificate, verified with tc, nil for the system's roots) that sends
// token as its bearer token.
func NewHTTPClient(base, token string, tc *tls.Config) *Client {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.TLSClientConfig = tc
	return &Client{url: strings.TrimSuffix(base, "/"), token: token, hc: &http.Client{Transport: tr, Timeout: 5 * time.Second}}
}

// UnreachableError says the agent's admin socket, or its HTTP listener,
// did not answer.
type UnreachableError struct {
	Socket string
	// URL is the HTTP listener's, for a client of NewHTTPClient.
	URL string
	Err error
}

func (e *UnreachableError) Error() string {
	if e.URL != "" {
		return fmt.Sprintf("agent: no agent answers at %s (%v); is `atoll agent` running with --http-listen at that address?", e.URL, e.Err)
	}
	switch {
	case errors.Is(e.Err, fs.ErrPermission):
		return fmt.Sprintf("agent: permission denied on admin socket %s: it is for the agent's user, root and the agent's --operators-group; run this as one of them or with sudo", e.Socket)
	case errors.Is(e.Err, fs.ErrNotExist):
		return fmt.Sprintf("agent: no agent answers on admin socket %s: there is no such socket; is `atoll agent` running with this data dir (--data-dir, or --admin-socket)?", e.Socket)
	case errors.Is(e.Err, syscall.ECONNREFUSED):
		return fmt.Sprintf("agent: no agent answers on admin socket %s: connection refused (the socket is left over from an agent that stopped); start `atoll agent` with this data dir", e.Socket)
	}
	return fmt.Sprintf("agent: no agent answers on admin socket %s (%v); is `atoll agent` running with this data dir?", e.Socket, e.Err)
}

func (e *UnreachableError) Unwrap() error { return e.Err }

// APIError is an answer of the API other than a success.
type APIError struct {
	Method, Path string
	// Status is the HTTP status: 403 for a role that does not allow the
	// request, 404 for no such client or domain, 501 for not supported.
	Status int
	Text   string
}

func (e *APIError) Error() string {
	return fmt.Sprintf("agent: admin API %s %s: %d %s: %s", e.Method, e.Path, e.Status, http.StatusText(e.Status), e.Text)
}

func (c *Client) unreachable(err error) error {
	return &UnreachableError{Socket: c.socket, URL: c.url, Err: err}
}

// call calls the API and returns the body of a success.
func (c *Client) call(ctx context.Context, method, path string, body any) ([]byte, error) {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return nil, err
		}
		rd = bytes.NewReader(b)
	}
	base := c.url
	if base == "" {
		base = "http://atoll"
	}
	req, err := http.NewRequestWithContext(ctx, method, base+path, rd)
	if err != nil {
		return nil, err
	}
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return nil, c.unreachable(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	if err != nil {
		return nil, c.unreachable(err)
	}
	if resp.StatusCode/100 != 2 {
		return nil, &APIError{Method: method, Path: req.URL.Path, Status: resp.StatusCode, Text: strings.TrimSpace(string(b))}
	}
	return b, nil
}

func (c *Client) do(ctx context.Context, method, path string, body, out any) error {
	b, err := c.call(ctx, method, path, body)
	if err != nil || out == nil {
		return err
	}
	if err := json.Unmarshal(b, out); err != nil {
		return fmt.Errorf("agent: admin API %s: bad reply: %w", path, err)
	}
	return nil
}

// get fetches the resource at path into a new T.
func get[T any](ctx context.Context, c *Client, path string) (*T, error) {
	var v T
	if err := c.do(ctx, http.MethodGet, path, nil, &v); err != nil {
		return nil, err
	}
	return &v, nil
}

// Status fetches /v1/status.
func (c *Client) Status(ctx context.Context) (*Status, error) {
	return get[Status](ctx, c, "/v1/status")
}

// Members fetches /v1/members.
func (c *Client) Members(ctx context.Context) (*MembersReply, error) {
	return get[MembersReply](ctx, c, "/v1/members")
}

// Ring fetches /v1/ring.
func (c *Client) Ring(ctx context.Context) (*RingInfo, error) {
	return get[RingInfo](ctx, c, "/v1/ring")
}

// Groups fetches /v1/groups.
func (c *Client) Groups(ctx context.Context) (*GroupsReply, error) {
	return get[GroupsReply](ctx, c, "/v1/groups")
}

// Clients fetches /v1/clients.
func (c *Client) Clients(ctx context.Context) (*ClientsReply, error) {
	return get[ClientsReply](ctx, c, "/v1/clients")
}

// Federation fetches /v1/federation.
func (c *Client) Federation(ctx context.Context) (*FederationInfo, error) {
	return get[FederationInfo](ctx, c, "/v1/federation")
}

// Plan fetches /v1/plan.
func (c *Client) Plan(ctx context.Context) (*PlanInfo, error) {
	return get[PlanInfo](ctx, c, "/v1/plan")
}

// Events fetches the membership events after since from /v1/events.
func (c *Client) Events(ctx context.Context, since uint64) (*EventsReply, error) {
	return get[EventsReply](ctx, c, "/v1/events?since="+strconv.FormatUint(since, 10))
}

// LogLevel fetches /v1/log-level.
func (c *Client) LogLevel(ctx context.Context) (*LogLevelReply, error) {
	return get[LogLevelReply](ctx, c, "/v1/log-level")
}

// SetLogLevel sets the agent's log level (debug, info, warn or error).
func (c *Client) SetLogLevel(ctx context.Context, level string) error {
	return c.do(ctx, http.MethodPut, "/v1/log-level", LogLevelReply{Level: level}, nil)
}

// EvictClient disconnects the agent's client of that name.
func (c *Client) EvictClient(ctx context.Context, name, reason string) error {
	return c.do(ctx, http.MethodPost, "/v1/clients/"+url.PathEscape(name)+"/evict", EvictRequest{Reason: reason}, nil)
}

// Handover moves the site's active gateway role for domain to gateway to
// (empty: the next in takeover order) and returns the outcome: Agreed
// once it took effect, false when it had not yet when the agent stopped
// waiting (202).
func (c *Client) Handover(ctx context.Context, domain, to string) (*HandoverReply, error) {
	var r HandoverReply
	if err := c.do(ctx, http.MethodPost, "/v1/federation/"+url.PathEscape(domain)+"/handover", HandoverRequest{To: to}, &r); err != nil {
		return nil, err
	}
	return &r, nil
}

// SetLoad changes the agent's load generator through PUT /load.
func (c *Client) SetLoad(ctx context.Context, l Load) error {
	if l.Svc == "" && l.Service != 0 {
		l.Svc = l.Service.String()
	}
	return c.do(ctx, http.MethodPut, "/load", l, nil)
}

// SetFederationLoad changes the load generator of the node's member of
// federation domain domain's ring through PUT /load?domain=DOMAIN (it
// applies while the node is the site's active gateway, and to later
// activations).
func (c *Client) SetFederationLoad(ctx context.Context, domain string, l Load) error {
	if l.Svc == "" && l.Service != 0 {
		l.Svc = l.Service.String()
	}
	return c.do(ctx, http.MethodPut, "/load?domain="+url.QueryEscape(domain), l, nil)
}

// Metrics fetches /metrics as text.
func (c *Client) Metrics(ctx context.Context) (string, error) {
	b, err := c.call(ctx, http.MethodGet, "/metrics", nil)
	return string(b), err
}
