package main

import (
	"context"
	"errors"
	"fmt"
	"os"

	"github.com/spf13/cobra"

	"github.com/partneridp/partneridp/binding"
	"github.com/partneridp/partneridp/binding/bolt"
)

func newStoreCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "store",
		Short: "Move bindings between store backends",
	}
	cmd.AddCommand(newStoreMigrateCmd())
	return cmd
}

func newStoreMigrateCmd() *cobra.Command {
	var configPath, from, to, actor string
	var overwrite bool
	cmd := &cobra.Command{
		Use:   "migrate (--from FILE | --to FILE)",
		Short: "Copy every binding and its history between a bolt file and the configured store",
		Long: `Copy every account's binding and history, with the marks of applied bind
notifications, from a bolt store file into the store the config names (--from),
or from the configured store into a bolt file (--to). Typical use: moving one
bolt instance to etcd (store.type: etcd in the config) before starting several
instances.

It is idempotent: an account whose history is already there, equal, is left as
it is, so running it again after an interruption is safe. An account with a
different history in the destination is refused unless --overwrite, which sets
that account's binding to the source's with a new history entry. At the end it
checks that every binding of the source is in the destination.

Stop the bridge that owns the bolt file first: one process owns it.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if (from == "") == (to == "") {
				return errors.New("give exactly one of --from FILE (bolt file into the configured store) or --to FILE (configured store into a bolt file)")
			}
			cfg, err := LoadConfig(configPath, os.Getenv)
			if err != nil {
				return err
			}
			ctx := cmd.Context()
			configured, err := openStore(ctx, cfg, storeOpen{})
			if err != nil {
				return err
			}
			defer configured.Close()
			file := from + to
			if _, err := os.Stat(file); to != "" && err == nil {
				fmt.Fprintf(cmd.ErrOrStderr(), "%s exists: accounts already there are compared, not overwritten\n", file)
			}
			fileStore, err := bolt.Open(file, bolt.Options{Timeout: cfg.Store.OpenTimeout.Duration})
			if err != nil {
				return err
			}
			defer fileStore.Close()
			src, dst := binding.Store(fileStore), configured
			if to != "" {
				src, dst = configured, fileStore
			}
			return runMigrate(ctx, cmd, src, dst, binding.MigrateOptions{Overwrite: overwrite, Actor: actor})
		},
	}
	f := cmd.Flags()
	f.StringVar(&configPath, "config", "partneridp.yaml", "config file (names the configured store)")
	f.StringVar(&from, "from", "", "bolt store file to copy from, into the configured store")
	f.StringVar(&to, "to", "", "bolt store file to copy into (created when missing), from the configured store")
	f.BoolVar(&overwrite, "overwrite", false, "set accounts whose history differs in the destination to the source's binding")
	f.StringVar(&actor, "actor", defaultActor(), "who is acting, recorded in the history of overwritten accounts")
	return cmd
}

func runMigrate(ctx context.Context, cmd *cobra.Command, src, dst binding.Store, o binding.MigrateOptions) error {
	r, err := binding.Migrate(ctx, src, dst, o)
	fmt.Fprintf(cmd.OutOrStdout(), "%d account(s): %d copied, %d already there, %d differing, %d overwritten; %d binding(s) in the source\n",
		r.Accounts, r.Copied, r.Same, r.Differing, r.Rebound, r.Bindings)
	if err != nil {
		return err
	}
	fmt.Fprintln(cmd.OutOrStdout(), "verified: every binding of the source is in the destination")
	return nil
}
