package bench

import (
	"os"
	"os/exec"
	"runtime"
	"strings"

	"github.com/atoll-gcs/atoll/internal/schedprobe"
)

// Host describes the machine of a run, for the report.
type Host struct {
	CPU, Kernel, Corosync, Go, LoadStart string
	Cores                                int
}

func hostInfo() Host {
	h := Host{Cores: runtime.NumCPU(), Go: runtime.Version(), LoadStart: schedprobe.LoadAvg()}
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, l := range strings.Split(string(b), "\n") {
			if v, ok := strings.CutPrefix(l, "model name"); ok {
				h.CPU = strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(v), ":"))
				break
			}
		}
	}
	if b, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		h.Kernel = strings.TrimSpace(string(b))
	}
	if out, err := exec.Command("corosync", "-v").Output(); err == nil {
		h.Corosync = strings.TrimSpace(strings.SplitN(string(out), "\n", 2)[0])
	}
	return h
}
