// Package sdnotify tells systemd about a Type=notify service: READY=1 once
// the service is ready, WATCHDOG=1 at half the unit's WatchdogSec= while
// the service is alive, STOPPING=1 when it stops. It speaks the sd_notify
// protocol with github.com/coreos/go-systemd/v22/daemon: a datagram to the
// Unix socket in $NOTIFY_SOCKET. Without $NOTIFY_SOCKET (not started by
// systemd, or by a unit of another type) it sends nothing.
package sdnotify

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"time"

	"github.com/coreos/go-systemd/v22/daemon"
)

// Notifier is one service's notifications.
type Notifier struct {
	// Ready is closed when the service is ready; READY=1 is sent then
	// (with Status, when set), and never before.
	Ready <-chan struct{}

	// Status, when set, gives the STATUS= line sent with READY=1.
	Status func() string

	// Interval is how often WATCHDOG=1 is sent; 0 takes half of the
	// unit's WatchdogSec= (from $WATCHDOG_USEC, when $WATCHDOG_PID is
	// this process or unset), and none when the unit has no watchdog.
	Interval time.Duration

	// Alive, when set, is asked before each WATCHDOG=1: an error skips the
	// ping (so that systemd restarts a service that is stuck) and is
	// logged once per outage.
	Alive func() error

	// Logger gets the operator's lines; nil discards them.
	Logger *slog.Logger
}

// Enabled reports whether systemd listens: $NOTIFY_SOCKET is set.
func Enabled() bool { return os.Getenv("NOTIFY_SOCKET") != "" }

// WatchdogInterval returns half of the unit's WatchdogSec= for this
// process, or 0 when the unit has no watchdog.
func WatchdogInterval() time.Duration {
	d, err := daemon.SdWatchdogEnabled(false)
	if err != nil || d <= 0 {
		return 0
	}
	return d / 2
}

// Run sends the notifications until ctx is done, then STOPPING=1. It
// returns at once when $NOTIFY_SOCKET is not set.
func (n *Notifier) Run(ctx context.Context) {
	log := n.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if !Enabled() {
		return
	}
	interval := n.Interval
	if interval == 0 {
		interval = WatchdogInterval()
	}
	var tick <-chan time.Time
	if interval > 0 {
		t := time.NewTicker(interval)
		defer t.Stop()
		tick = t.C
		log.Info("systemd watchdog enabled", "ping_every", interval)
	}
	ready := n.Ready
	var stuck error
	for {
		select {
		case <-ctx.Done():
			n.send(log, "STOPPING=1")
			return
		case <-ready:
			ready = nil
			msg := "READY=1"
			if n.Status != nil {
				msg += "\nSTATUS=" + n.Status()
			}
			n.send(log, msg)
		case <-tick:
			if n.Alive != nil {
				if err := n.Alive(); err != nil {
					if stuck == nil {
						log.Error("not alive: the systemd watchdog ping is withheld, systemd will restart the service if this lasts WatchdogSec", "err", err)
					}
					stuck = err
					continue
				}
				if stuck != nil {
					log.Info("alive again: systemd watchdog pings resumed")
					stuck = nil
				}
			}
			n.send(log, "WATCHDOG=1")
		}
	}
}

func (n *Notifier) send(log *slog.Logger, state string) {
	if _, err := daemon.SdNotify(false, state); err != nil {
		log.Warn("cannot notify systemd", "state", state, "err", fmt.Errorf("sdnotify: %w", err))
	}
}
