package agent

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/http"
	"net/http/pprof"
	"net/url"
	"os"
	"strings"
	"syscall"
	"time"
)

// The admin API is HTTP with JSON bodies on a Unix socket in the data dir
// (mode 0600, so only the agent's user and root reach it):
//
//	GET  /status         Status
//	GET  /members        the Members of Status (configured nodes and ring members)
//	GET  /metrics        Prometheus metrics (Agent.Metrics), in the format the scraper asks for
//	GET  /load, PUT /load  the built-in load generator (Load as JSON), for tests and benchmarks;
//	                       PUT /load?domain=FED sets the load of the node's federation ring member
//	GET  /debug/pprof/   the Go profiler
//
// Client talks to it.

// listenAdmin opens the admin socket, replacing a stale socket file (the
// caller holds the data dir's lock, so no other agent uses it).
func listenAdmin(path string) (net.Listener, error) {
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
	if err := os.Chmod(path, 0o600); err != nil {
		l.Close()
		return nil, fmt.Errorf("agent: admin socket: %w", err)
	}
	return l, nil
}

type adminServer struct {
	a   *Agent
	srv *http.Server
}

func newAdminServer(a *Agent) *adminServer {
	s := &adminServer{a: a}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /status", func(w http.ResponseWriter, r *http.Request) { writeJSON(w, a.Status()) })
	mux.HandleFunc("GET /members", func(w http.ResponseWriter, r *http.Request) {
		st := a.Status()
		writeJSON(w, MembersReply{Node: st.Node, Ring: st.Ring, Health: st.Health, Members: st.Members})
	})
	mux.Handle("GET /metrics", metricsHandler(a, a.Metrics()))
	mux.HandleFunc("GET /load", func(w http.ResponseWriter, r *http.Request) { writeJSON(w, a.Status().Load) })
	mux.HandleFunc("PUT /load", func(w http.ResponseWriter, r *http.Request) {
		var l Load
		dec := json.NewDecoder(io.LimitReader(r.Body, 4096))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&l); err != nil {
			http.Error(w, "agent: load: "+err.Error(), http.StatusBadRequest)
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
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	s.srv = &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	return s
}

func (s *adminServer) serve(l net.Listener) {
	if err := s.srv.Serve(l); err != nil && !errors.Is(err, http.ErrServerClosed) {
		s.a.log.Error("admin API stopped", "err", err)
	}
}

func (s *adminServer) shutdown() {
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	if err := s.srv.Shutdown(ctx); err != nil {
		s.srv.Close()
	}
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Write(append(b, '\n'))
}

// MembersReply is the body of /members.
type MembersReply struct {
	Node    string         `json:"node"`
	Ring    string         `json:"ring,omitempty"`
	Health  Health         `json:"health"`
	Members []MemberStatus `json:"members"`
}

// Client calls an agent's admin API over its Unix socket.
type Client struct {
	socket string
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

// UnreachableError says the agent's admin socket did not answer.
type UnreachableError struct {
	Socket string
	Err    error
}

func (e *UnreachableError) Error() string {
	switch {
	case errors.Is(e.Err, fs.ErrPermission):
		return fmt.Sprintf("agent: permission denied on admin socket %s: it is for the agent's user and root only (mode 0600); run this as the agent's user or with sudo", e.Socket)
	case errors.Is(e.Err, fs.ErrNotExist):
		return fmt.Sprintf("agent: no agent answers on admin socket %s: there is no such socket; is `atoll agent` running with this data dir (--data-dir, or --admin-socket)?", e.Socket)
	case errors.Is(e.Err, syscall.ECONNREFUSED):
		return fmt.Sprintf("agent: no agent answers on admin socket %s: connection refused (the socket is left over from an agent that stopped); start `atoll agent` with this data dir", e.Socket)
	}
	return fmt.Sprintf("agent: no agent answers on admin socket %s (%v); is `atoll agent` running with this data dir?", e.Socket, e.Err)
}

func (e *UnreachableError) Unwrap() error { return e.Err }

func (c *Client) do(ctx context.Context, method, path string, body, out any) error {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, "http://atoll"+path, rd)
	if err != nil {
		return err
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return &UnreachableError{Socket: c.socket, Err: err}
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	if err != nil {
		return &UnreachableError{Socket: c.socket, Err: err}
	}
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("agent: admin API %s %s: %s: %s", method, path, resp.Status, strings.TrimSpace(string(b)))
	}
	if out == nil {
		return nil
	}
	if err := json.Unmarshal(b, out); err != nil {
		return fmt.Errorf("agent: admin API %s: bad reply: %w", path, err)
	}
	return nil
}

// Status fetches /status.
func (c *Client) Status(ctx context.Context) (*Status, error) {
	var s Status
	if err := c.do(ctx, http.MethodGet, "/status", nil, &s); err != nil {
		return nil, err
	}
	return &s, nil
}

// Members fetches /members.
func (c *Client) Members(ctx context.Context) (*MembersReply, error) {
	var m MembersReply
	if err := c.do(ctx, http.MethodGet, "/members", nil, &m); err != nil {
		return nil, err
	}
	return &m, nil
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
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://atoll/metrics", nil)
	if err != nil {
		return "", err
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return "", &UnreachableError{Socket: c.socket, Err: err}
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return string(b), err
}
