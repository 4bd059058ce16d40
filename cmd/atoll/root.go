package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sort"

	"github.com/spf13/cobra"
)

// version is set at link time with -ldflags "-X main.version=...".
var version = "dev"

// subcommands holds the constructors of every subcommand; each file of this
// package registers its own in an init function so that commands stay
// independent of each other.
var subcommands []func() *cobra.Command

func register(f func() *cobra.Command) { subcommands = append(subcommands, f) }

// Exit statuses shared by the commands that talk to an agent (status,
// members, join, send, recv, groups); status and members also exit with
// the agent's health (0 healthy, 1 degraded, 2 not in a ring).
const (
	// exitUnreachable: no agent answers (no socket, connection refused,
	// permission denied, timeout); the message says which.
	exitUnreachable = 3
	// exitUsage: the command line is wrong (sysexits.h EX_USAGE).
	exitUsage = 64
)

// usageError marks err as a mistake in the command line: exit status
// exitUsage.
func usageError(err error) error { return &exitError{code: exitUsage, err: err} }

// usageExits makes cmd's flag and argument mistakes exit with status
// exitUsage, so that they cannot be taken for a health.
func usageExits(cmd *cobra.Command) {
	cmd.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return usageError(err) })
	if args := cmd.Args; args != nil {
		cmd.Args = func(c *cobra.Command, a []string) error {
			if err := args(c, a); err != nil {
				return usageError(err)
			}
			return nil
		}
	}
}

// exitError carries a specific exit status out of a subcommand, for
// commands whose status is part of their interface (validate, status).
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string {
	if e.err == nil {
		return fmt.Sprintf("exit status %d", e.code)
	}
	return e.err.Error()
}

func (e *exitError) Unwrap() error { return e.err }

func newRootCmd(stdout, stderr io.Writer) *cobra.Command {
	root := &cobra.Command{
		Use:           "atoll",
		Short:         "Atoll: group communication with extended virtual synchrony, from one rack to many sites",
		SilenceUsage:  true,
		SilenceErrors: true,
		Version:       buildVersion(),
	}
	// --version prints exactly what `atoll version` prints.
	root.SetVersionTemplate(versionLine())
	root.SetOut(stdout)
	root.SetErr(stderr)
	cmds := make([]*cobra.Command, 0, len(subcommands))
	for _, f := range subcommands {
		cmds = append(cmds, f())
	}
	sort.Slice(cmds, func(i, j int) bool { return cmds[i].Name() < cmds[j].Name() })
	root.AddCommand(cmds...)
	return root
}

// Run executes the atoll command line and returns the process exit status.
func Run(args []string, stdout, stderr io.Writer) int {
	return RunContext(context.Background(), args, stdout, stderr)
}

// RunContext is Run with a context: long-running commands (relay) stop
// when it is done, as on an interrupt.
func RunContext(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	root := newRootCmd(stdout, stderr)
	root.SetArgs(args)
	err := root.ExecuteContext(ctx)
	if err == nil {
		return 0
	}
	var ee *exitError
	if errors.As(err, &ee) {
		if ee.err != nil {
			fmt.Fprintln(stderr, "atoll:", ee.err)
		}
		return ee.code
	}
	fmt.Fprintln(stderr, "atoll:", err)
	return 1
}
