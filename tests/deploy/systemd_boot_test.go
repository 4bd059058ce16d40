package deploy

import (
	"archive/tar"
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// hostSystemd is systemd's binary on a Debian host with merged /usr.
const hostSystemd = "/usr/lib/systemd/systemd"

// booted is a container whose PID 1 is systemd.
type booted struct {
	t    *testing.T
	name string
}

// exec runs args inside the container.
func (b *booted) exec(args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, "docker", append([]string{"exec", b.name}, args...)...).CombinedOutput()
	return strings.TrimSpace(string(out)), err
}

// must runs args inside the container and fails the test if they fail.
func (b *booted) must(args ...string) string {
	b.t.Helper()
	out, err := b.exec(args...)
	if err != nil {
		b.t.Fatalf("%s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return out
}

// show is `systemctl show` of the agent's unit: the properties asked for,
// timestamps in UTC to the microsecond.
func (b *booted) show(props ...string) map[string]string {
	b.t.Helper()
	got := map[string]string{}
	for line := range strings.Lines(b.must("systemctl", "show", "--timestamp=us+utc", "-p", strings.Join(props, ","), "atoll-agent.service")) {
		k, v, _ := strings.Cut(strings.TrimSpace(line), "=")
		got[k] = v
	}
	return got
}

// journal is the unit's journal: systemd's lines about it and the agent's.
func (b *booted) journal() string {
	b.t.Helper()
	return b.must("journalctl", "--no-pager", "-o", "short-monotonic", "-u", "atoll-agent.service")
}

// waitFor polls until ok returns "" (or fails the test with its last
// answer after limit).
func (b *booted) waitFor(what string, limit time.Duration, ok func() string) {
	b.t.Helper()
	deadline := time.Now().Add(limit)
	for {
		why := ok()
		if why == "" {
			return
		}
		if time.Now().After(deadline) {
			b.t.Fatalf("%s: not after %v: %s", what, limit, why)
		}
		time.Sleep(500 * time.Millisecond)
	}
}

// TestSystemdBoot boots a real systemd as PID 1 in a Docker container
// and runs the static atoll binary under the shipped files of
// deploy/systemd, unchanged: atoll-agent.service, agent.env (node lab-1)
// and atoll.yaml (a site of three nodes on 10.1.0.0/24, which the test's
// Docker network is), with a fresh key. The container borrows the host's
// /usr read-only (systemd, systemctl, journalctl, /bin/kill), so nothing is
// pulled or installed. It checks that
//   - `systemctl start` returns only once the agent has formed its ring
//     alone (its "ring formed" line is stamped before the unit's
//     ActiveEnterTimestamp), and the unit's status line says so;
//   - the watchdog is armed with the unit's WatchdogSec and the agent's
//     pings reach systemd;
//   - `systemctl reload` (SIGHUP) leaves the same process running and the
//     agent logs it;
//   - a crash (SIGKILL of the main process) is restarted by Restart=;
//   - `systemctl stop` makes the restarted agent leave gracefully (its
//     lines in the journal), with the result success.
//
// It skips when the Docker daemon is not reachable, systemd is not
// installed on the host, or the host's /usr is not merged.
func TestSystemdBoot(t *testing.T) {
	t.Parallel() // beside the other container test: both mostly wait on Docker and the agents
	if testing.Short() {
		t.Skip("-short: the systemd test boots systemd in a container")
	}
	needDocker(t, "the systemd unit is not run under systemd")
	if _, err := os.Stat(hostSystemd); err != nil {
		t.Skipf("systemd is not installed on this host (%v; Debian package systemd): the unit is not run under systemd", err)
	}
	for _, d := range []string{"bin", "sbin", "lib"} {
		if l, err := os.Readlink("/" + d); err != nil || l != "usr/"+d {
			t.Skipf("/%s is not a link to usr/%s: the container borrows the host's /usr, which needs a merged /usr", d, d)
		}
	}
	start := time.Now()
	name := fmt.Sprintf("atollsystemd%d", os.Getpid())
	unit := read(t, filepath.Join(systemdDir, "atoll-agent.service"))
	watchdog := regexp.MustCompile(`(?m)^WatchdogSec=(\S+)$`).FindStringSubmatch(unit)
	if watchdog == nil {
		t.Fatal("the unit sets no WatchdogSec")
	}

	image := rootImage(t, name, unit)
	t.Logf("image %s imported %v after the start (static build included)", image, time.Since(start).Round(100*time.Millisecond))
	if out, err := exec.Command("docker", "network", "create", "--subnet", "10.1.0.0/24", name).CombinedOutput(); err != nil {
		t.Fatalf("docker network create --subnet 10.1.0.0/24 (the subnet of deploy/systemd/atoll.yaml): %v\n%s", err, out)
	}
	t.Cleanup(func() { exec.Command("docker", "network", "rm", name).Run() })
	args := []string{"run", "-d", "--name", name, "--hostname", "lab-1", "--network", name,
		// What systemd needs as PID 1 in a container: mounts for the
		// unit's sandboxing (CAP_SYS_ADMIN; --privileged would do, but
		// not on hosts whose bounding set lacks a capability), its own
		// seccomp filters, and the cgroup hierarchy.
		"--cap-add", "SYS_ADMIN", "--security-opt", "seccomp=unconfined", "--security-opt", "apparmor=unconfined",
		"--cgroupns=host", "-v", "/sys/fs/cgroup:/sys/fs/cgroup:rw", "--tmpfs", "/run", "--tmpfs", "/tmp"}
	for _, d := range []string{"bin", "sbin", "lib", "lib64", "share"} {
		if _, err := os.Stat("/usr/" + d); err == nil {
			args = append(args, "-v", "/usr/"+d+":/usr/"+d+":ro")
		}
	}
	args = append(args, image, hostSystemd)
	if out, err := exec.Command("docker", args...).CombinedOutput(); err != nil {
		t.Fatalf("docker run: %v\n%s", err, out)
	}
	b := &booted{t: t, name: name}
	t.Cleanup(func() {
		if t.Failed() {
			out, _ := b.exec("journalctl", "--no-pager", "-b", "-n", "80")
			t.Logf("the container's journal:\n%s", out)
		}
		exec.Command("docker", "rm", "-f", name).Run()
	})

	// systemd is PID 1 and has finished booting.
	b.waitFor("systemd answers", 30*time.Second, func() string {
		out, err := b.exec("systemctl", "is-system-running", "--wait")
		if err != nil && out != "degraded" {
			return fmt.Sprintf("systemctl is-system-running: %v: %s", err, out)
		}
		return ""
	})
	if comm := b.must("cat", "/proc/1/comm"); comm != "systemd" {
		t.Fatalf("PID 1 of the container is %q, not systemd", comm)
	}
	t.Logf("systemd booted %v after the start", time.Since(start).Round(100*time.Millisecond))

	// Type=notify: start returns once READY=1 came, after the first ring.
	b.must("systemctl", "start", "atoll-agent.service")
	st := b.show("ActiveState", "SubState", "StatusText", "WatchdogUSec", "NRestarts", "MainPID", "WatchdogTimestampMonotonic", "ActiveEnterTimestamp")
	if st["ActiveState"] != "active" || st["SubState"] != "running" {
		t.Fatalf("after systemctl start: %s/%s, want active/running", st["ActiveState"], st["SubState"])
	}
	if !regexp.MustCompile(`^ring r:\S+ formed: 1 members, 2 configured nodes missing$`).MatchString(st["StatusText"]) {
		t.Errorf("StatusText %q: want the ring lab-1 formed alone, lab-2 and lab-3 missing", st["StatusText"])
	}
	if st["WatchdogUSec"] != watchdog[1] {
		t.Errorf("WatchdogUSec=%s, want the unit's WatchdogSec=%s", st["WatchdogUSec"], watchdog[1])
	}
	j := b.journal()
	// The agent stamps its "ring formed" line before it sends READY=1,
	// which systemd stamps ActiveEnterTimestamp with (the same clock; the
	// journal's own order of the two lines is that of their arrival).
	formed := regexp.MustCompile(`time=(\S+) level=\S+ msg="ring formed`).FindStringSubmatch(j)
	active, err := time.Parse("Mon 2006-01-02 15:04:05.000000 MST", st["ActiveEnterTimestamp"])
	if err != nil {
		t.Fatalf("ActiveEnterTimestamp: %v", err)
	}
	if formed == nil {
		t.Errorf("the agent logged no ring formed:\n%s", j)
	} else if at, err := time.Parse(time.RFC3339Nano, formed[1]); err != nil || at.After(active) {
		t.Errorf("the ring formed at %s (%v), after the unit became active at %s: READY=1 before the first regular configuration", formed[1], err, st["ActiveEnterTimestamp"])
	}
	if !strings.Contains(j, `msg="systemd watchdog enabled"`) {
		t.Errorf("the agent did not log its watchdog:\n%s", j)
	}
	pid := st["MainPID"]
	t.Logf("active %v after the start: %s", time.Since(start).Round(100*time.Millisecond), st["StatusText"])

	// The watchdog: systemd records each WATCHDOG=1 the agent sends.
	b.waitFor("a watchdog ping", 20*time.Second, func() string {
		if now := b.show("WatchdogTimestampMonotonic")["WatchdogTimestampMonotonic"]; now == st["WatchdogTimestampMonotonic"] {
			return "WatchdogTimestampMonotonic still " + now
		}
		return ""
	})

	// Reload: SIGHUP is logged, the same process keeps running.
	b.must("systemctl", "reload", "atoll-agent.service")
	b.waitFor("the agent logs SIGHUP", 30*time.Second, func() string {
		if !strings.Contains(b.journal(), `msg="SIGHUP received`) {
			return "no SIGHUP line in the journal"
		}
		return ""
	})
	if st := b.show("ActiveState", "MainPID"); st["ActiveState"] != "active" || st["MainPID"] != pid {
		t.Fatalf("after systemctl reload: %s, main PID %s; want active, still %s", st["ActiveState"], st["MainPID"], pid)
	}

	// A crash: Restart=on-failure starts it again.
	b.must("kill", "-KILL", pid)
	b.waitFor("restart after the crash", 60*time.Second, func() string {
		st := b.show("ActiveState", "SubState", "NRestarts", "MainPID")
		if st["ActiveState"] != "active" || st["SubState"] != "running" || st["NRestarts"] != "1" || st["MainPID"] == pid || st["MainPID"] == "0" {
			return fmt.Sprintf("%v", st)
		}
		return ""
	})
	if j := b.journal(); !strings.Contains(j, "status=9/KILL") || strings.Count(j, "Started atoll-agent.service") != 2 {
		t.Errorf("the journal does not show the crash and the second start:\n%s", j)
	}
	t.Logf("restarted after the crash %v after the start", time.Since(start).Round(100*time.Millisecond))

	// Stop: the agent leaves gracefully and exits 0.
	pid = b.show("MainPID")["MainPID"]
	b.must("systemctl", "stop", "atoll-agent.service")
	// (systemd has forgotten the exit status by now: Result is what
	// remains, and the agent's own lines show that it left.)
	st = b.show("ActiveState", "Result")
	if st["ActiveState"] != "inactive" || st["Result"] != "success" {
		t.Errorf("after systemctl stop: %v; want inactive, success", st)
	}
	j = b.journal()
	for _, want := range []string{`msg="leaving: no more messages accepted`, `msg="agent stopped"`} {
		if !regexp.MustCompile(`atoll\[` + pid + `\]: .*` + regexp.QuoteMeta(want)).MatchString(j) {
			t.Errorf("the restarted agent (PID %s) did not log %s when stopped:\n%s", pid, want, j)
		}
	}
	t.Logf("stopped %v after the start", time.Since(start).Round(100*time.Millisecond))
}

// rootImage imports an image (docker import, nothing pulled) of the
// files the container adds to the host's /usr: links /bin, /sbin, /lib
// and /lib64 into /usr, a minimal /etc with the user atoll, the static
// binary at the unit's /usr/local/bin/atoll, and deploy/systemd's unit,
// environment and topology files with a fresh key, as the unit's comment
// installs them. It returns the image's tag.
func rootImage(t *testing.T, name, unit string) string {
	t.Helper()
	bin, err := os.ReadFile(staticAtoll(t))
	if err != nil {
		t.Fatal(err)
	}
	keyFile := filepath.Join(t.TempDir(), "atoll.key")
	if out, err := exec.Command(staticAtoll(t), "keygen", "-o", keyFile).CombinedOutput(); err != nil {
		t.Fatalf("atoll keygen: %v\n%s", err, out)
	}
	const atollID = 990 // the user and group atoll
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	add := func(h *tar.Header, body []byte) {
		h.ModTime = time.Now()
		if h.Typeflag == tar.TypeReg {
			h.Size = int64(len(body))
		}
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		if _, err := tw.Write(body); err != nil {
			t.Fatal(err)
		}
	}
	for _, d := range []string{"bin", "sbin", "lib", "lib64"} {
		add(&tar.Header{Name: d, Typeflag: tar.TypeSymlink, Linkname: "usr/" + d, Mode: 0o777}, nil)
	}
	for _, d := range []string{"dev", "proc", "sys", "run", "root", "etc", "etc/systemd", "etc/systemd/system", "usr", "usr/local", "usr/local/bin", "var", "var/lib", "var/log"} {
		add(&tar.Header{Name: d + "/", Typeflag: tar.TypeDir, Mode: 0o755}, nil)
	}
	add(&tar.Header{Name: "tmp/", Typeflag: tar.TypeDir, Mode: 0o1777}, nil)
	add(&tar.Header{Name: "etc/atoll/", Typeflag: tar.TypeDir, Mode: 0o750, Gid: atollID}, nil)
	file := func(path string, mode int64, uid, gid int, body string) {
		add(&tar.Header{Name: path, Typeflag: tar.TypeReg, Mode: mode, Uid: uid, Gid: gid}, []byte(body))
	}
	file("etc/os-release", 0o644, 0, 0, read(t, "/usr/lib/os-release"))
	file("etc/machine-id", 0o444, 0, 0, fmt.Sprintf("%032x\n", time.Now().UnixNano()))
	file("etc/passwd", 0o644, 0, 0, fmt.Sprintf("root:x:0:0:root:/root:/bin/sh\natoll:x:%d:%d::/var/lib/atoll:/usr/sbin/nologin\n", atollID, atollID))
	file("etc/group", 0o644, 0, 0, fmt.Sprintf("root:x:0:\natoll:x:%d:\n", atollID))
	file("usr/local/bin/atoll", 0o755, 0, 0, string(bin))
	file("etc/atoll/atoll.yaml", 0o640, 0, atollID, read(t, filepath.Join(systemdDir, "atoll.yaml")))
	file("etc/atoll/atoll.key", 0o600, atollID, atollID, read(t, keyFile))
	file("etc/atoll/agent.env", 0o644, 0, 0, read(t, filepath.Join(systemdDir, "agent.env")))
	file("etc/systemd/system/atoll-agent.service", 0o644, 0, 0, unit)
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	tag := "atoll-systemd-test:" + name
	imp := exec.Command("docker", "import", "-", tag)
	imp.Stdin = &buf
	if out, err := imp.CombinedOutput(); err != nil {
		t.Fatalf("docker import: %v\n%s", err, out)
	}
	t.Cleanup(func() { exec.Command("docker", "rmi", "-f", tag).Run() })
	return tag
}
