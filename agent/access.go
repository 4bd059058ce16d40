package agent

import (
	"context"
	"crypto/subtle"
	"crypto/tls"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"os"
	"os/user"
	"slices"
	"strconv"
	"strings"
)

// Who may use the introspection API: over the admin Unix socket the
// peer's credentials (SO_PEERCRED) decide, the agent's own user and root
// having the admin role and the members of API.OperatorsGroup the
// read-only role; over HTTP on TCP (API.HTTPListen) a bearer token does,
// from API.AdminTokenFile or API.ReadTokenFile.

// API configures the access to the introspection API.
type API struct {
	// OperatorsGroup, when set, is a Unix group whose members may read
	// the API over the admin socket (role read): the socket is then mode
	// 0660 and owned by that group. The data dir must let the group
	// through (mode 0750). Without it the socket is mode 0600.
	OperatorsGroup string
	// HTTPListen, when set, also serves the API over plain HTTP on TCP at
	// host:port; an empty host means 127.0.0.1. Every request needs a
	// bearer token ("Authorization: Bearer TOKEN") from AdminTokenFile
	// (role admin) or ReadTokenFile (role read): at least one is required.
	HTTPListen string
	// TLS, when set, makes the HTTP listener serve HTTPS with it (its
	// certificate), so that tokens and answers do not cross the network
	// in the clear.
	TLS *tls.Config
	// ReadTokenFile and AdminTokenFile each hold one token (at least 16
	// bytes, surrounding whitespace ignored); the files must not be
	// readable by group or others.
	ReadTokenFile, AdminTokenFile string
}

// Role is what a caller of the API may do.
type Role int

// Roles, each allowing what the ones before it allow.
const (
	// RoleNone may do nothing.
	RoleNone Role = iota
	// RoleRead may read every resource and the metrics.
	RoleRead
	// RoleAdmin may also change the agent: evict clients, set the log
	// level, the load generator, and use the profiler.
	RoleAdmin
)

func (r Role) String() string {
	switch r {
	case RoleRead:
		return "read"
	case RoleAdmin:
		return "admin"
	}
	return "none"
}

// minTokenLen is the shortest token accepted.
const minTokenLen = 16

func (c *API) validate() error {
	if c.HTTPListen == "" {
		return nil
	}
	if _, _, err := net.SplitHostPort(c.HTTPListen); err != nil {
		return fmt.Errorf("agent: API listener %q is not host:port, such as 127.0.0.1:9406 (--http-listen)", c.HTTPListen)
	}
	if c.ReadTokenFile == "" && c.AdminTokenFile == "" {
		return fmt.Errorf("API listener %s needs bearer tokens: give --http-read-token FILE, --http-admin-token FILE or both (each file holds one token of at least %d bytes, e.g. `head -c 24 /dev/urandom | base64 > FILE; chmod 600 FILE`)", c.HTTPListen, minTokenLen)
	}
	return nil
}

// httpAddr returns the address to listen on: HTTPListen, with 127.0.0.1
// for an empty host.
func (c *API) httpAddr() string {
	host, port, _ := net.SplitHostPort(c.HTTPListen)
	if host == "" {
		host = "127.0.0.1"
	}
	return net.JoinHostPort(host, port)
}

// tokens are the API's bearer tokens by role.
type tokens struct{ read, admin []byte }

// loadTokens reads the token files of c.
func (c *API) loadTokens() (tokens, error) {
	var t tokens
	var err error
	if c.ReadTokenFile != "" {
		if t.read, err = readToken(c.ReadTokenFile); err != nil {
			return t, err
		}
	}
	if c.AdminTokenFile != "" {
		if t.admin, err = readToken(c.AdminTokenFile); err != nil {
			return t, err
		}
	}
	if t.read != nil && subtle.ConstantTimeCompare(t.read, t.admin) == 1 {
		return t, fmt.Errorf("agent: the read and admin tokens of the API are the same; make them differ")
	}
	return t, nil
}

func readToken(path string) ([]byte, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("agent: API token: %w", err)
	}
	if fi.Mode().Perm()&0o077 != 0 {
		return nil, fmt.Errorf("agent: API token file %s has mode %04o: others may read it; `chmod 600 %s`", path, fi.Mode().Perm(), path)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("agent: API token: %w", err)
	}
	tok := []byte(strings.TrimSpace(string(b)))
	if len(tok) < minTokenLen {
		return nil, fmt.Errorf("agent: API token file %s holds a token of %d bytes; use at least %d random ones (`head -c 24 /dev/urandom | base64 > %s`)", path, len(tok), minTokenLen, path)
	}
	return tok, nil
}

// role returns the role of r's bearer token.
func (t tokens) role(r *http.Request) Role {
	tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if !ok {
		return RoleNone
	}
	switch b := []byte(strings.TrimSpace(tok)); {
	case t.admin != nil && subtle.ConstantTimeCompare(b, t.admin) == 1:
		return RoleAdmin
	case t.read != nil && subtle.ConstantTimeCompare(b, t.read) == 1:
		return RoleRead
	}
	return RoleNone
}

// operatorsGID resolves API.OperatorsGroup to its group id.
func (c *API) operatorsGID() (string, error) {
	if c.OperatorsGroup == "" {
		return "", nil
	}
	g, err := user.LookupGroup(c.OperatorsGroup)
	if err != nil {
		return "", fmt.Errorf("agent: operators' group %q: %w; create it or choose another --operators-group", c.OperatorsGroup, err)
	}
	return g.Gid, nil
}

// shareAdminSocket gives the operators' group read access to the admin
// socket at path: group gid, mode 0660.
func shareAdminSocket(path, gid string) error {
	n, err := strconv.Atoi(gid)
	if err != nil {
		return fmt.Errorf("agent: operators' group id %q: %w", gid, err)
	}
	if err := os.Chown(path, -1, n); err != nil {
		return fmt.Errorf("agent: admin socket: give it to the operators' group: %w", err)
	}
	return os.Chmod(path, 0o660)
}

type roleKey struct{}

func withRole(ctx context.Context, r Role) context.Context {
	return context.WithValue(ctx, roleKey{}, r)
}

func roleOf(ctx context.Context) Role {
	r, _ := ctx.Value(roleKey{}).(Role)
	return r
}

// unixRole returns the role of the peer of an admin socket connection:
// admin for root and the agent's user, read for a member of the
// operators' group (gid), none for anyone else. Without peer credentials
// (not Linux) the socket's mode is all that guards it: admin when it is
// 0600, read when the operators' group shares it.
func unixRole(c net.Conn, gid string) Role {
	uc, ok := c.(*net.UnixConn)
	if !ok {
		return RoleNone
	}
	ps, _, err := unixPrincipals(uc)
	switch {
	case err != nil:
		return RoleNone
	case len(ps) == 0 && gid == "":
		return RoleAdmin
	case len(ps) == 0:
		return RoleRead
	case slices.Contains(ps, "uid:0") || slices.Contains(ps, "uid:"+strconv.Itoa(os.Geteuid())):
		return RoleAdmin
	case gid != "" && slices.Contains(ps, "gid:"+gid):
		return RoleRead
	}
	return RoleNone
}

// isLoopback reports whether addr (host:port) is on a loopback address.
func isLoopback(addr string) bool {
	host, _, _ := net.SplitHostPort(addr)
	ip, err := netip.ParseAddr(host)
	return err == nil && ip.IsLoopback() || host == "localhost"
}

// listenAPI opens the introspection API's listeners: the admin socket
// (shared with the operators' group, when there is one) and the HTTP
// listener with its tokens.
func (a *Agent) listenAPI() (err error) {
	c := &a.cfg.API
	if a.operatorsGID, err = c.operatorsGID(); err != nil {
		return err
	}
	if a.cfg.AdminSocket != "-" {
		if a.adminL, err = listenAdmin(a.cfg.AdminSocket, a.operatorsGID); err != nil {
			return err
		}
	}
	if c.HTTPListen == "" {
		return nil
	}
	if a.apiTokens, err = c.loadTokens(); err != nil {
		return err
	}
	if a.httpL, err = net.Listen("tcp", c.httpAddr()); err != nil {
		return fmt.Errorf("agent: API listener: %w; choose another --http-listen", err)
	}
	if c.TLS != nil {
		tc := c.TLS.Clone()
		tc.MinVersion = max(tc.MinVersion, tls.VersionTLS12)
		a.httpL = tls.NewListener(a.httpL, tc)
	}
	return nil
}

// apiURL is the base URL of the API's HTTP listener.
func (a *Agent) apiURL() string {
	scheme := "http://"
	if a.cfg.API.TLS != nil {
		scheme = "https://"
	}
	return scheme + a.httpL.Addr().String()
}
