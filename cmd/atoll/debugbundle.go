package main

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/atoll-gcs/atoll/agent"
)

func init() { register(newDebugCmd) }

func newDebugCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "debug",
		Short: "Collect what a bug report needs",
		Args:  cobra.NoArgs,
	}
	cmd.AddCommand(newBundleCmd())
	return cmd
}

// bundleFlags are the flags of atoll debug bundle.
type bundleFlags struct {
	dataDir, adminSocket string
	configPath, node     string
	out, logFile, unit   string
	since                time.Duration
}

func newBundleCmd() *cobra.Command {
	var o bundleFlags
	cmd := &cobra.Command{
		Use:   "bundle [-o FILE]",
		Short: "Write the agent's status, metrics, logs and a doctor report into one tar.gz",
		Long: `Bundle collects, for a bug report, into one gzip'ed tar file:

  version.txt    this binary's version
  status.json    the agent's status with its effective configuration
  members.json   the site's nodes as the agent sees them
  events.json    its recent events, and ring.json, groups.json,
                 clients.json, federation.json, plan.json, when its admin
                 API serves them (/v1/...)
  metrics.txt    a snapshot of its Prometheus metrics
  doctor.txt     the output of atoll doctor for the agent's node and
                 topology file (from the status, or --config and --node)
  topology.yaml  the topology file
  agent.log      its recent logs: the journal of --unit when it runs under
                 systemd, else --log-file (the last 4 MiB)
  errors.txt     what could not be collected, and why

No key material goes in: key files, certificates' private keys and the
data dir are never read, and any PEM private key block in the collected
text is replaced by a marker. What is missing (no agent answering, no
journal) is listed in errors.txt rather than failing the bundle.
Exit status: 0 when the bundle was written, 1 when it could not be.`,
		Example: `  sudo atoll debug bundle -o /tmp/atoll-bug.tar.gz
  atoll debug bundle --data-dir /tmp/lab-1 --log-file /tmp/lab-1.log`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if o.out == "" {
				o.out = fmt.Sprintf("atoll-bundle-%s.tar.gz", time.Now().UTC().Format("20060102T150405Z"))
			}
			if err := writeBundle(cmd.Context(), &o); err != nil {
				return &exitError{code: 1, err: err}
			}
			fmt.Fprintln(cmd.OutOrStdout(), o.out)
			return nil
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&o.dataDir, "data-dir", defaultDataDir, "the agent's data dir, where its admin socket is")
	fl.StringVar(&o.adminSocket, "admin-socket", "", "the agent's admin socket (default DATA-DIR/admin.sock)")
	fl.StringVarP(&o.configPath, "config", "c", "", "the topology `FILE` (default: the one the agent runs)")
	fl.StringVar(&o.node, "node", "", "the node id (default: the agent's)")
	fl.StringVarP(&o.out, "output", "o", "", "the bundle `FILE` (default atoll-bundle-TIME.tar.gz)")
	fl.StringVar(&o.logFile, "log-file", "", "the agent's log `FILE`, when it does not run under systemd")
	fl.StringVar(&o.unit, "unit", "atoll-agent", "the agent's systemd unit, whose journal is collected")
	fl.DurationVar(&o.since, "since", time.Hour, "how far back the logs go")
	return cmd
}

// bundle is the tar file being written, and what could not be collected.
type bundle struct {
	tw       *tar.Writer
	problems []string
	now      time.Time
}

// add writes one file, with private keys redacted.
func (b *bundle) add(name string, data []byte) error {
	data = redactKeys(data)
	return errors.Join(b.tw.WriteHeader(&tar.Header{Name: name, Mode: 0o600, Size: int64(len(data)), ModTime: b.now, Typeflag: tar.TypeReg}),
		func() error { _, err := b.tw.Write(data); return err }())
}

func (b *bundle) problem(what string, err error) {
	b.problems = append(b.problems, fmt.Sprintf("%s: %v", what, err))
}

func writeBundle(ctx context.Context, o *bundleFlags) error {
	f, err := os.OpenFile(o.out, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return fmt.Errorf("debug bundle: %w; choose another -o", err)
	}
	zw := gzip.NewWriter(f)
	b := &bundle{tw: tar.NewWriter(zw), now: time.Now()}
	err = b.collect(ctx, o)
	err = errors.Join(err, b.tw.Close(), zw.Close(), f.Close())
	if err != nil {
		os.Remove(o.out)
		return fmt.Errorf("debug bundle: writing %s: %w", o.out, err)
	}
	return nil
}

// collect adds every part to the bundle.
func (b *bundle) collect(ctx context.Context, o *bundleFlags) error {
	socket := o.adminSocket
	if socket == "" {
		socket = filepath.Join(o.dataDir, agent.AdminSocketName)
	}
	parts := map[string][]byte{"version.txt": []byte(versionLine())}
	var st agent.Status
	admin := unixHTTP(socket)
	for _, p := range adminParts {
		body, err := admin(ctx, p.path)
		if errors.Is(err, errNotServed) {
			b.problem("admin API "+p.path, errors.New("this agent does not serve it"))
			continue
		}
		if err != nil {
			b.problem("admin API "+p.path, err)
			continue
		}
		parts[p.file] = body
		if p.path == "/status" {
			json.Unmarshal(body, &st)
		}
	}
	config, node := o.configPath, o.node
	if config == "" {
		config = st.Config.ConfigFile
	}
	if node == "" {
		node = st.Node
	}
	if config != "" && node != "" {
		var out bytes.Buffer
		d := &doctor{w: &out}
		d.all(ctx, &doctorFlags{configPath: config, node: node, procSys: "/proc/sys", adminSocket: socket}, b.now)
		parts["doctor.txt"] = out.Bytes()
		if topo, err := os.ReadFile(config); err != nil {
			b.problem("topology file", err)
		} else {
			parts["topology.yaml"] = topo
		}
	} else {
		b.problem("doctor", errors.New("no topology file and node: the agent did not answer; give --config and --node"))
	}
	if logs, err := agentLogs(ctx, o); err != nil {
		b.problem("logs", err)
	} else {
		parts["agent.log"] = logs
	}
	names := []string{"version.txt"}
	for _, p := range adminParts {
		names = append(names, p.file)
	}
	for _, name := range append(names, "doctor.txt", "topology.yaml", "agent.log") {
		if data, ok := parts[name]; ok {
			if err := b.add(name, data); err != nil {
				return err
			}
		}
	}
	if len(b.problems) > 0 {
		return b.add("errors.txt", []byte(strings.Join(b.problems, "\n")+"\n"))
	}
	return nil
}

// adminParts are the admin API's paths the bundle takes, and their
// files. The /v1 paths beyond status and members are served by newer
// agents only; an older agent's lack of them is noted in errors.txt.
var adminParts = []struct{ path, file string }{
	{"/status", "status.json"}, {"/members", "members.json"}, {"/v1/events", "events.json"},
	{"/v1/ring", "ring.json"}, {"/v1/groups", "groups.json"}, {"/v1/clients", "clients.json"},
	{"/v1/federation", "federation.json"}, {"/v1/plan", "plan.json"}, {"/metrics", "metrics.txt"},
}

// unixHTTP returns a getter of the admin API's paths over its socket.
func unixHTTP(socket string) func(ctx context.Context, path string) ([]byte, error) {
	hc := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", socket)
		},
	}}
	return func(ctx context.Context, path string) ([]byte, error) {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://atoll"+path, nil)
		if err != nil {
			return nil, err
		}
		resp, err := hc.Do(req)
		if err != nil {
			return nil, &agent.UnreachableError{Socket: socket, Err: err}
		}
		defer resp.Body.Close()
		body, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
		switch {
		case err != nil:
		case resp.StatusCode == http.StatusNotFound && string(bytes.TrimSpace(body)) == "404 page not found":
			err = errNotServed // net/http's answer for a path it does not route
		case resp.StatusCode != http.StatusOK:
			err = fmt.Errorf("%s: %s", resp.Status, bytes.TrimSpace(body))
		}
		return body, err
	}
}

// errNotServed: the agent's admin API has no such path (an older agent).
var errNotServed = errors.New("not served")

// maxLogBytes bounds the log file's part.
const maxLogBytes = 4 << 20

// agentLogs returns the agent's recent logs: the journal of the unit when
// it runs under systemd, else the end of the log file.
func agentLogs(ctx context.Context, o *bundleFlags) ([]byte, error) {
	var why []string
	if _, err := exec.LookPath("journalctl"); err == nil && o.unit != "" {
		if exec.CommandContext(ctx, "systemctl", "is-active", "--quiet", o.unit).Run() == nil {
			out, err := exec.CommandContext(ctx, "journalctl", "--unit", o.unit, "--no-pager", "--output", "short-iso",
				"--since", fmt.Sprintf("-%ds", int(o.since.Seconds()))).Output()
			if err == nil {
				return out, nil
			}
			why = append(why, fmt.Sprintf("journalctl --unit %s: %v", o.unit, err))
		} else {
			why = append(why, fmt.Sprintf("unit %s is not active under systemd", o.unit))
		}
	}
	if o.logFile == "" {
		why = append(why, "no --log-file given")
		return nil, errors.New(strings.Join(why, "; "))
	}
	f, err := os.Open(o.logFile)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	if fi, err := f.Stat(); err == nil && fi.Size() > maxLogBytes {
		f.Seek(fi.Size()-maxLogBytes, io.SeekStart)
	}
	return io.ReadAll(io.LimitReader(f, maxLogBytes))
}

// secrets match a PEM block of a private key and the contents of a
// cluster key file (seal.Key.MarshalFile).
var secrets = []*regexp.Regexp{
	regexp.MustCompile(`(?s)-----BEGIN [A-Z ]*PRIVATE KEY-----.*?-----END [A-Z ]*PRIVATE KEY-----`),
	regexp.MustCompile(`atoll-key-v1\s+(#[^\n]*\n\s*)*[0-9A-Za-z+/=]{32,}`),
}

// redactKeys replaces every private key and cluster key in data.
func redactKeys(data []byte) []byte {
	for _, re := range secrets {
		data = re.ReplaceAll(data, []byte("[key removed by atoll debug bundle]"))
	}
	return data
}
