package main

import (
	"errors"
	"fmt"
	"io/fs"

	"github.com/spf13/cobra"

	"github.com/atoll-gcs/atoll/localring/seal"
)

func init() { register(newKeygenCmd) }

func newKeygenCmd() *cobra.Command {
	var (
		output string
		force  bool
	)
	cmd := &cobra.Command{
		Use:   "keygen [-o FILE]",
		Short: "Make a new cluster key for packet security",
		Long: `Keygen makes a new random 32-byte cluster key for the local ring's packet
security (modes auth and encrypt) and writes it as a key file: with -o, to
FILE with mode 0600, refusing to replace an existing file unless --force is
given; without -o, to standard output.

Copy the same file to every node of the cluster (e.g. /etc/atoll/atoll.key,
owner-readable only). Nodes with different keys reject each other's packets
and never form a ring; the key id printed here and by 'atoll status' tells
keys apart without showing them.`,
		Example: `  atoll keygen -o /etc/atoll/atoll.key
  atoll keygen -o /etc/atoll/atoll.key --force   # rotate: replaces the key
  (umask 077; atoll keygen > atoll.key)`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			key := seal.GenerateKey()
			if output == "" || output == "-" {
				if _, err := cmd.OutOrStdout().Write(key.MarshalFile()); err != nil {
					return err
				}
				fmt.Fprintf(cmd.ErrOrStderr(), "atoll: wrote a new key (key id %08x) to standard output; store it with mode 0600\n", key.ID())
				return nil
			}
			if err := seal.WriteKeyFile(output, key, force); err != nil {
				if errors.Is(err, fs.ErrExist) {
					return fmt.Errorf("%w; pass --force to replace it, then copy the new file to every node", err)
				}
				return err
			}
			_, err := fmt.Fprintf(cmd.OutOrStdout(), "wrote %s (key id %08x, mode 0600); copy it to every node of the cluster\n", output, key.ID())
			return err
		},
	}
	cmd.Flags().StringVarP(&output, "output", "o", "", "write the key file to `FILE` (mode 0600) instead of standard output")
	cmd.Flags().BoolVar(&force, "force", false, "replace an existing key file (every node then needs the new file)")
	return cmd
}
