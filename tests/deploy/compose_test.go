package deploy

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/atoll-gcs/atoll/agent"
)

// compose runs the compose project of deploy/compose on this machine's
// Docker engine.
type compose struct {
	t       *testing.T
	cmd     []string // docker-compose, or docker compose
	project string
	env     []string
}

func (c *compose) run(timeout time.Duration, args ...string) ([]byte, error) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	full := append(slices.Clone(c.cmd[1:]), append([]string{"-p", c.project, "-f", "../../deploy/compose/compose.yaml"}, args...)...)
	cmd := exec.CommandContext(ctx, c.cmd[0], full...)
	cmd.Env = append(os.Environ(), c.env...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	return out.Bytes(), err
}

// removeStaleProjects removes the containers and networks of this test's
// earlier runs whose process is gone (killed before its cleanup ran):
// their networks hold the compose file's fixed subnets, and a new project's
// networks would not be created ("Pool overlaps with other one on this
// address space").
func removeStaleProjects(t *testing.T) {
	out, err := exec.Command("docker", "network", "ls", "--filter", "label=com.docker.compose.project",
		"--format", `{{.Label "com.docker.compose.project"}}`).Output()
	if err != nil {
		t.Logf("docker network ls: %v (stale projects of killed runs are not removed)", err)
		return
	}
	for _, project := range slices.Compact(slices.Sorted(slices.Values(strings.Fields(string(out))))) {
		pid, err := strconv.Atoi(strings.TrimPrefix(project, "atolldeploy"))
		if err != nil || !strings.HasPrefix(project, "atolldeploy") || syscall.Kill(pid, 0) == nil {
			continue // not this test's, or its run is still going
		}
		t.Logf("removing project %s, left behind by a run that was killed", project)
		label := "label=com.docker.compose.project=" + project
		removeAll(t, []string{"container", "rm", "-f"}, "container", "ls", "-aq", "--filter", label)
		removeAll(t, []string{"network", "rm"}, "network", "ls", "-q", "--filter", label)
	}
}

// removeAll runs the docker listing list, which prints one id a line, and
// then docker rm with those ids, if any; failures are logged.
func removeAll(t *testing.T, rm []string, list ...string) {
	out, err := exec.Command("docker", list...).Output()
	if ids := strings.Fields(string(out)); err == nil && len(ids) > 0 {
		out, err = exec.Command("docker", append(rm, ids...)...).CombinedOutput()
	}
	if err != nil {
		t.Logf("removing a stale project: docker %s: %v\n%s", strings.Join(list, " "), err, out)
	}
}

// status is `atoll status -o json` inside service svc; nil when the
// container does not answer.
func (c *compose) status(svc string) *agent.Status {
	out, _ := c.run(30*time.Second, "exec", "-T", svc, "/atoll", "status", "-o", "json")
	var st agent.Status
	if json.Unmarshal(out, &st) != nil || st.Node == "" {
		return nil
	}
	return &st
}

// composeCommand finds docker-compose or the docker compose plugin.
func composeCommand() []string {
	if p, err := exec.LookPath("docker-compose"); err == nil {
		return []string{p}
	}
	if exec.Command("docker", "compose", "version").Run() == nil {
		return []string{"docker", "compose"}
	}
	return nil
}

// TestCompose builds the FROM scratch image around a static atoll binary,
// brings up deploy/compose (three sites of two agents, each site's ring over
// multicast on its own network, the sites joined only through their
// gateways' QUIC endpoints), waits until every site's ring has both its
// nodes and the federation ring all three sites, kills site a's active
// gateway a-1 and waits until a-2 has re-formed site a's ring alone and
// taken over a's place in the federation ring with b and c. Everything is
// removed at the end (containers, networks, the image). It skips when the
// Docker daemon is not reachable.
func TestCompose(t *testing.T) {
	t.Parallel() // beside the other container test: both mostly wait on Docker and the agents
	if testing.Short() {
		t.Skip("-short: the compose test builds an image and runs six containers")
	}
	needDocker(t, "the image and the compose project are not tested")
	cc := composeCommand()
	if cc == nil {
		t.Skip("neither docker-compose nor the docker compose plugin is installed: the compose project is not tested")
	}
	start := time.Now()
	name := fmt.Sprintf("atolldeploy%d", os.Getpid())
	tag := "atoll-deploy-test:" + name

	// The image: the static binary in a context directory, no registry.
	ctxDir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(ctxDir, "var/lib/atoll"), 0o755); err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(ctxDir, "atoll")
	copyFile(t, staticAtoll(t), bin, 0o755)
	copyFile(t, "../../deploy/docker/Dockerfile", filepath.Join(ctxDir, "Dockerfile"), 0o644)
	if out, err := exec.Command("docker", "build", "-q", "-t", tag, ctxDir).CombinedOutput(); err != nil {
		t.Fatalf("docker build: %v\n%s", err, out)
	}
	t.Cleanup(func() { exec.Command("docker", "rmi", "-f", tag).Run() })
	t.Logf("image %s built %v after the start", tag, time.Since(start).Round(time.Second))

	etc := t.TempDir()
	setup := exec.Command("../../deploy/compose/setup.sh", etc)
	setup.Env = append(os.Environ(), "ATOLL="+bin)
	if out, err := setup.CombinedOutput(); err != nil {
		t.Fatalf("setup.sh: %v\n%s", err, out)
	}
	removeStaleProjects(t)
	c := &compose{t: t, cmd: cc, project: name, env: []string{"ATOLL_IMAGE=" + tag, "ATOLL_ETC=" + etc}}
	t.Cleanup(func() {
		if t.Failed() {
			out, _ := c.run(time.Minute, "logs", "--no-color", "--tail", "40")
			t.Logf("container logs:\n%s", out)
		}
		if out, err := c.run(2*time.Minute, "down", "-v", "--remove-orphans", "-t", "5"); err != nil {
			t.Errorf("compose down: %v\n%s", err, out)
		}
	})
	if out, err := c.run(3*time.Minute, "up", "-d"); err != nil {
		t.Fatalf("compose up: %v\n%s", err, out)
	}

	// wait polls until ok holds for every service or limit is over.
	wait := func(what string, limit time.Duration, services []string, ok func(svc string, st *agent.Status) string) {
		t.Helper()
		deadline := time.Now().Add(limit)
		for {
			var bad []string
			for _, svc := range services {
				st := c.status(svc)
				if st == nil {
					bad = append(bad, svc+": no answer")
				} else if why := ok(svc, st); why != "" {
					bad = append(bad, svc+": "+why)
				}
			}
			if len(bad) == 0 {
				t.Logf("%s %v after the start", what, time.Since(start).Round(time.Second))
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s: not after %v: %s", what, limit, strings.Join(bad, "; "))
			}
			time.Sleep(time.Second)
		}
	}
	siteRing := func(want ...string) func(string, *agent.Status) string {
		return func(_ string, st *agent.Status) string {
			var in []string
			for _, m := range st.Members {
				if m.InRing {
					in = append(in, m.ID)
				}
			}
			if st.Ring == "" || !slices.Equal(in, want) {
				return fmt.Sprintf("ring %q with %v, want %v", st.Ring, in, want)
			}
			return ""
		}
	}
	fedRing := func(_ string, st *agent.Status) string {
		for _, f := range st.Federation {
			if f.State == "operational" && slices.Equal(f.Members, []string{"a", "b", "c"}) {
				return ""
			}
		}
		return fmt.Sprintf("no operational federation ring of a, b and c: %+v", st.Federation)
	}
	wait("site a's ring formed", 90*time.Second, []string{"a-1", "a-2"}, siteRing("a-1", "a-2"))
	wait("site b's ring formed", 90*time.Second, []string{"b-1", "b-2"}, siteRing("b-1", "b-2"))
	wait("site c's ring formed", 90*time.Second, []string{"c-1", "c-2"}, siteRing("c-1", "c-2"))
	wait("federation ring formed", 90*time.Second, []string{"a-1", "b-1", "c-1"}, fedRing)

	if out, err := c.run(time.Minute, "kill", "a-1"); err != nil {
		t.Fatalf("compose kill a-1: %v\n%s", err, out)
	}
	wait("site a's ring re-formed without a-1", 90*time.Second, []string{"a-2"}, siteRing("a-2"))
	wait("a-2 took over site a's federation member", 90*time.Second, []string{"a-2", "b-1", "c-1"}, fedRing)
}
