package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/atoll-gcs/atoll/agent"
)

// The read commands (status, members, groups, inspect ...) print what
// they read as a table or as JSON (-o table|json), once or, with --watch,
// again every --interval, in place on a terminal, until interrupted.

// readFlags are the output flags of a read command.
type readFlags struct {
	output   string
	watch    bool
	interval time.Duration
}

func (f *readFlags) add(cmd *cobra.Command, jsonHelp string) {
	fl := cmd.Flags()
	fl.StringVarP(&f.output, "output", "o", "table", "output format: table (for people; also text) or json ("+jsonHelp+"; with --watch one compact object per line, per refresh)")
	fl.BoolVarP(&f.watch, "watch", "w", false, "print again every --interval until interrupted: in place on a terminal")
	fl.DurationVar(&f.interval, "interval", 2*time.Second, "with --watch: how often")
}

// check validates the flags: a usage error when they are wrong.
func (f *readFlags) check(name string) error {
	switch f.output {
	case "text":
		f.output = "table"
	case "table", "json":
	default:
		return usageError(fmt.Errorf("%s: --output %q: use table or json", name, f.output))
	}
	if f.watch && f.interval < 100*time.Millisecond {
		return usageError(fmt.Errorf("%s: --interval %v: use at least 100ms", name, f.interval))
	}
	return nil
}

// show fetches a value and prints it with table, or as JSON: once, and
// returns it; or with --watch until interrupted, when it returns the
// zero value and nil (a fetch that fails is shown, and retried).
func show[T any](cmd *cobra.Command, f *readFlags, fetch func(context.Context) (T, error), table func(io.Writer, T)) (T, error) {
	w := cmd.OutOrStdout()
	if !f.watch {
		v, err := fetch(cmd.Context())
		if err != nil {
			return v, err
		}
		if f.output == "json" {
			enc := json.NewEncoder(w)
			enc.SetIndent("", "  ")
			return v, enc.Encode(v)
		}
		table(w, v)
		return v, nil
	}
	ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	inPlace := isTerminal(w)
	title := cmd.CommandPath()
	var zero T
	for {
		v, err := fetch(ctx)
		if ctx.Err() != nil {
			return zero, nil
		}
		switch {
		case f.output == "json" && err != nil:
			fmt.Fprintln(cmd.ErrOrStderr(), "atoll:", err)
		case f.output == "json":
			b, _ := json.Marshal(v)
			fmt.Fprintf(w, "%s\n", b)
		default:
			if inPlace {
				fmt.Fprint(w, "\x1b[H\x1b[2J")
			}
			fmt.Fprintf(w, "Every %v: %s    %s\n\n", f.interval, title, time.Now().Format(time.TimeOnly))
			if err != nil {
				fmt.Fprintln(w, "atoll:", err)
			} else {
				table(w, v)
			}
			if !inPlace {
				fmt.Fprintln(w)
			}
		}
		select {
		case <-ctx.Done():
			return zero, nil
		case <-time.After(f.interval):
		}
	}
}

// isTerminal reports whether w is a terminal.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

// apiFlags say how to reach an agent's introspection API: its admin
// socket (--data-dir, --admin-socket) or its HTTP listener (--api-url
// with --api-token-file).
type apiFlags struct {
	dataDir, socket, url, tokenFile, ca string
}

func (f *apiFlags) add(cmd *cobra.Command) {
	fl := cmd.Flags()
	fl.StringVar(&f.dataDir, "data-dir", defaultDataDir, "the agent's data dir")
	fl.StringVar(&f.socket, "admin-socket", "", "the agent's admin socket (default DATA-DIR/admin.sock)")
	fl.StringVar(&f.url, "api-url", "", "reach the agent's API over HTTP at `URL` (its --http-listen, e.g. http://127.0.0.1:9406) instead of its admin socket")
	fl.StringVar(&f.tokenFile, "api-token-file", "", "with --api-url: the `FILE` holding the read or admin token")
	fl.StringVar(&f.ca, "api-ca", "", "with an https:// --api-url: verify the agent's certificate against the CA in `FILE` (PEM; default: the system's roots)")
}

// client returns the API client the flags name.
func (f *apiFlags) client() (*agent.Client, error) {
	if f.url == "" {
		if f.tokenFile != "" || f.ca != "" {
			return nil, usageError(errors.New("--api-token-file and --api-ca need --api-url"))
		}
		return adminClient(f.dataDir, f.socket), nil
	}
	if f.socket != "" {
		return nil, usageError(errors.New("--api-url and --admin-socket both name the agent; give one"))
	}
	if f.tokenFile == "" {
		return nil, usageError(errors.New("--api-url needs --api-token-file: the HTTP API takes a bearer token"))
	}
	b, err := os.ReadFile(f.tokenFile)
	if err != nil {
		return nil, usageError(fmt.Errorf("--api-token-file: %w", err))
	}
	var tc *tls.Config
	if f.ca != "" {
		roots, err := certPool("--api-ca", f.ca)
		if err != nil {
			return nil, usageError(err)
		}
		tc = &tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS12}
	}
	return agent.NewHTTPClient(f.url, strings.TrimSpace(string(b)), tc), nil
}

// apiError is the exit of a command whose API call failed: exit status
// exitUnreachable when no agent answers.
func apiError(err error) error {
	var ue *agent.UnreachableError
	if errors.As(err, &ue) {
		return unreachable(err)
	}
	return err
}

// certPool reads the CA certificates of a flag's PEM file.
func certPool(flag, path string) (*x509.CertPool, error) {
	pem, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", flag, err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("%s %s holds no PEM certificate", flag, path)
	}
	return pool, nil
}
