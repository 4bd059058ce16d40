package main

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"time"

	"github.com/spf13/cobra"

	"github.com/atoll-gcs/atoll/internal/pki"
)

func init() { register(newCertsCmd) }

func newCertsCmd() *cobra.Command {
	var (
		dir          string
		nodes        []string
		force        bool
		certValidity time.Duration
		caValidity   time.Duration
	)
	cmd := &cobra.Command{
		Use:   "certs TOPOLOGY",
		Short: "Make the cluster CA and a certificate for every gateway (federation over QUIC)",
		Long: `Certs makes the certificates gateways authenticate each other with over QUIC
(mutual TLS 1.3): a cluster CA and, for every gateway-eligible node of
every site of the topology file (sites[].gateways), a certificate naming
the node's identity atoll://CLUSTER/SITE/NODE and its private key
(ECDSA P-256). It writes, into the directory of -d:

  ca.crt ca.key          the cluster CA (keep ca.key offline)
  NODE.crt NODE.key      one pair per gateway; copy ca.crt and the pair to it

Every file is written with mode 0600. Certs refuses to overwrite existing
files unless --force is given, and then writes nothing. With --node it
issues only the named gateways' certificates, signed by the CA already in
the directory: to add a gateway, or renew one before it expires.

It prints every file's expiry. 'atoll certs check -d DIR' prints the
expiries of the certificates in DIR and warns about those that expire
within 30 days; the agent warns about its own the same way.`,
		Example: `  atoll certs /etc/atoll/topology.yaml -d certs
  atoll certs /etc/atoll/topology.yaml -d certs --node fra-3          # a new gateway
  atoll certs /etc/atoll/topology.yaml -d certs --node fra-1 --force  # renew fra-1
  atoll certs check -d certs`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			f, err := loadTopology(args[0], cmd.InOrStdin())
			if err != nil {
				printMistakes(cmd.ErrOrStderr(), err)
				return &exitError{code: 1, err: fmt.Errorf("%s is not a valid topology file", args[0])}
			}
			now := time.Now()
			made, err := pki.Make(f, pki.Options{Dir: dir, Nodes: nodes, Force: force, Now: now, CAValidity: caValidity, CertValidity: certValidity})
			for _, m := range made {
				fmt.Fprintf(cmd.OutOrStdout(), "wrote %s and %s (mode 0600): %s, %s\n", m.CertPath, m.KeyPath, m.Expiry.Subject, expiryText(m.Expiry))
			}
			if errors.Is(err, fs.ErrExist) {
				return fmt.Errorf("%w; pass --force to replace them (a new CA needs new certificates on every gateway)", err)
			}
			return err
		},
	}
	cmd.Flags().StringVarP(&dir, "dir", "d", "certs", "write the files into `DIR` (created with mode 0700 if missing)")
	cmd.Flags().StringSliceVar(&nodes, "node", nil, "issue only for these gateway `ID`s, with the CA already in DIR")
	cmd.Flags().BoolVar(&force, "force", false, "replace existing files")
	cmd.Flags().DurationVar(&certValidity, "validity", pki.CertValidity, "lifetime of gateway certificates (at most the CA's)")
	cmd.Flags().DurationVar(&caValidity, "ca-validity", pki.CAValidity, "lifetime of a new CA")

	check := &cobra.Command{
		Use:   "check",
		Short: "Print the expiry of every certificate in a directory; exit 1 if one expires within 30 days",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			all, err := pki.Check(dir, time.Now())
			if err != nil {
				return err
			}
			if n := printExpiries(cmd.OutOrStdout(), all); n > 0 {
				return &exitError{code: 1, err: fmt.Errorf("%d certificates in %s expire within %d days or have expired", n, dir, int(pki.WarnBefore.Hours()/24))}
			}
			return nil
		},
	}
	check.Flags().StringVarP(&dir, "dir", "d", "certs", "the certificate `DIR`")
	cmd.AddCommand(check)
	return cmd
}

func expiryText(e pki.Expiry) string {
	if w := e.Warning(); w != "" {
		return "WARNING: " + w
	}
	return fmt.Sprintf("expires %s (in %d days)", e.NotAfter.UTC().Format(time.RFC3339), int(e.Left.Hours()/24))
}

// printExpiries prints one line per certificate and returns how many
// expire within pki.WarnBefore.
func printExpiries(w io.Writer, all []pki.Made) int {
	bad := 0
	for _, m := range all {
		if m.Expiry.Warning() != "" {
			bad++
		}
		fmt.Fprintf(w, "%s: %s, %s\n", m.CertPath, m.Expiry.Subject, expiryText(m.Expiry))
	}
	return bad
}
