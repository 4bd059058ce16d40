package deploy

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"

	"github.com/atoll-gcs/atoll/tests/internal/nstest"
)

// TestMain removes the static binary the container tests share.
func TestMain(m *testing.M) {
	code := m.Run()
	if static.dir != "" {
		os.RemoveAll(static.dir)
	}
	os.Exit(code)
}

// static is the atoll binary built once, without cgo, for the tests that
// run it in a container (the compose project and the systemd unit).
var static struct {
	once sync.Once
	dir  string
	path string
	err  error
}

// staticAtoll builds cmd/atoll statically on its first call and returns
// the binary's path.
func staticAtoll(t *testing.T) string {
	t.Helper()
	static.once.Do(func() {
		if static.dir, static.err = os.MkdirTemp("", "atoll-deploy-"); static.err != nil {
			return
		}
		static.path = filepath.Join(static.dir, "atoll")
		build := exec.Command("go", "build", "-tags", nstest.BuildTags, "-o", static.path, "../../cmd/atoll")
		build.Env = append(os.Environ(), "CGO_ENABLED=0")
		if out, err := build.CombinedOutput(); err != nil {
			static.err = fmt.Errorf("go build (static): %v\n%s", err, out)
		}
	})
	if static.err != nil {
		t.Fatal(static.err)
	}
	return static.path
}

// copyFile copies src to dst with mode perm.
func copyFile(t *testing.T, src, dst string, perm os.FileMode) {
	t.Helper()
	b, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(dst, b, perm); err != nil {
		t.Fatal(err)
	}
}

// needDocker skips t, saying what is then not tested, unless the Docker
// client is installed and its daemon answers.
func needDocker(t *testing.T, untested string) {
	t.Helper()
	if _, err := exec.LookPath("docker"); err != nil {
		t.Skip("docker is not installed: " + untested)
	}
	if out, err := exec.Command("docker", "info", "--format", "{{.ServerVersion}}").CombinedOutput(); err != nil {
		t.Skipf("the Docker daemon is not reachable (docker info: %v: %s): %s", err, bytes.TrimSpace(out), untested)
	}
}
