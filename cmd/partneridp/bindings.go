package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/partneridp/partneridp/binding"
	"github.com/partneridp/partneridp/binding/bolt"
	"github.com/partneridp/partneridp/idp/handoff"
)

// storeFlags are the flags every bindings subcommand shares.
type storeFlags struct {
	config string
	store  string // overrides the config's store path
	actor  string
}

func (f *storeFlags) register(cmd *cobra.Command) {
	cmd.PersistentFlags().StringVar(&f.config, "config", "partneridp.yaml", "config file (names the store and xAccountType)")
	cmd.PersistentFlags().StringVar(&f.store, "store", "", "store file (default: the config's store.path)")
	cmd.PersistentFlags().StringVar(&f.actor, "actor", defaultActor(), "who is acting, recorded in the history")
}

func defaultActor() string {
	if u := os.Getenv("USER"); u != "" {
		return "operator:" + u
	}
	return "operator"
}

// open loads the config and opens the store it names. A bolt file is
// owned by one process: stop `serve` first, or point --store at a backup;
// an etcd store is shared, so these commands work while the bridge serves.
func (f *storeFlags) open(ctx context.Context) (*Config, binding.Store, error) {
	cfg, err := LoadConfig(f.config, os.Getenv)
	if err != nil {
		return nil, nil, err
	}
	if f.store != "" && cfg.Store.Type != storeBolt {
		return nil, nil, fmt.Errorf("--store names a bolt file, but the config's store.type is %s: drop --store, or use a config with store.type bolt", cfg.Store.Type)
	}
	db, err := openStore(ctx, cfg, storeOpen{Path: f.store})
	if err != nil {
		return nil, nil, err
	}
	return cfg, db, nil
}

func newBindingsCmd() *cobra.Command {
	var f storeFlags
	cmd := &cobra.Command{
		Use:   "bindings",
		Short: "Inspect and repair partner-account <-> Huawei-account bindings",
		Long: `The binding store maps (xAccountType, xaccount_id) to a Huawei account
(domain_id, domain_name). It decides the login link's isFirstLogin. Bindings come
from Huawei's bind notifications, from imported create-customer results, and from
these commands. Every change is kept in an append-only history.

With store.type bolt the file belongs to one process at a time: run these
while "serve" is stopped (or point --store at a backup copy). With store.type
etcd they work while any number of bridges serve.`,
	}
	f.register(cmd)
	cmd.AddCommand(
		bindingsList(&f), bindingsGet(&f), bindingsPut(&f), bindingsDelete(&f),
		bindingsHistory(&f), bindingsExport(&f), bindingsImport(&f), bindingsBackup(&f), bindingsVerify(&f),
	)
	return cmd
}

func withStore(f *storeFlags, fn func(ctx context.Context, cfg *Config, db binding.Store) error) func(*cobra.Command, []string) error {
	return func(cmd *cobra.Command, _ []string) error {
		cfg, db, err := f.open(cmd.Context())
		if err != nil {
			return err
		}
		defer db.Close()
		return fn(cmd.Context(), cfg, db)
	}
}

func bindingsList(f *storeFlags) *cobra.Command {
	return &cobra.Command{
		Use: "list", Short: "List every binding", Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return withStore(f, func(ctx context.Context, _ *Config, db binding.Store) error {
				tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
				fmt.Fprintln(tw, "XACCOUNT_TYPE\tXACCOUNT_ID\tDOMAIN_ID\tDOMAIN_NAME\tSOURCE\tUPDATED")
				err := db.List(ctx, binding.Key{}, func(b binding.Binding) error {
					_, err := fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", visible(b.XAccountType), visible(b.XAccountID), visible(b.DomainID), visible(b.DomainName), b.Source, b.UpdatedAt.UTC().Format(time.RFC3339))
					return err
				})
				if err != nil {
					return err
				}
				return tw.Flush()
			})(cmd, args)
		},
	}
}

func bindingsGet(f *storeFlags) *cobra.Command {
	var domain bool
	cmd := &cobra.Command{
		Use:   "get XACCOUNT_ID",
		Short: "Show the binding of a partner account (or, with --domain, of a Huawei account)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return withStore(f, func(ctx context.Context, cfg *Config, db binding.Store) error {
				var out any
				if domain {
					bs, err := db.GetByDomainID(ctx, args[0])
					if err != nil {
						return err
					}
					if len(bs) == 0 {
						return fmt.Errorf("domain %s: %w", args[0], binding.ErrNotFound)
					}
					out = bs
				} else {
					b, err := db.Get(ctx, binding.Key{XAccountType: cfg.Huawei.XAccountType, XAccountID: unquoteArg(args[0])})
					if err != nil {
						return fmt.Errorf("%s: %w", args[0], err)
					}
					out = b
				}
				return printJSON(cmd.OutOrStdout(), out)
			})(cmd, args)
		},
	}
	cmd.Flags().BoolVar(&domain, "domain", false, "look up by Huawei domain_id instead")
	return cmd
}

func bindingsPut(f *storeFlags) *cobra.Command {
	var domainID, domainName string
	cmd := &cobra.Command{
		Use:     "put XACCOUNT_ID --domain-id ID [--domain-name NAME]",
		Short:   "Bind a partner account to a Huawei account (operator repair)",
		Example: `  partneridp bindings put cust-0001 --domain-id 0a1b2c... --domain-name zhangsan --config partneridp.yaml`,
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			// The same rule as the handoff token's sub: a binding the bridge
			// could never look up is a typo, not a repair.
			if err := handoff.ValidXAccountID(args[0]); err != nil {
				return err
			}
			return withStore(f, func(ctx context.Context, cfg *Config, db binding.Store) error {
				b := binding.Binding{
					Key:        binding.Key{XAccountType: cfg.Huawei.XAccountType, XAccountID: args[0]},
					DomainID:   domainID,
					DomainName: domainName,
					Source:     binding.SourceOperator,
				}
				changed, err := binding.Put(ctx, db, b, f.actor, nil)
				if err != nil {
					return err
				}
				fmt.Fprintln(cmd.OutOrStdout(), changedWord(changed, "bound", "unchanged:"), args[0], "->", domainID)
				return nil
			})(cmd, args)
		},
	}
	cmd.Flags().StringVar(&domainID, "domain-id", "", "Huawei account ID (customer_id / domain_id)")
	cmd.Flags().StringVar(&domainName, "domain-name", "", "Huawei account name")
	_ = cmd.MarkFlagRequired("domain-id")
	return cmd
}

func bindingsDelete(f *storeFlags) *cobra.Command {
	return &cobra.Command{
		Use:   "delete XACCOUNT_ID",
		Short: "Remove a partner account's binding (its next login is a first login)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return withStore(f, func(ctx context.Context, cfg *Config, db binding.Store) error {
				changed, err := binding.Delete(ctx, db, binding.Key{XAccountType: cfg.Huawei.XAccountType, XAccountID: unquoteArg(args[0])}, binding.SourceOperator, f.actor, nil)
				if err != nil {
					return err
				}
				fmt.Fprintln(cmd.OutOrStdout(), changedWord(changed, "deleted", "no binding for"), args[0])
				return nil
			})(cmd, args)
		},
	}
}

func bindingsHistory(f *storeFlags) *cobra.Command {
	return &cobra.Command{
		Use:   "history XACCOUNT_ID",
		Short: "Show every change to a partner account's binding, oldest first",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return withStore(f, func(ctx context.Context, cfg *Config, db binding.Store) error {
				changes, err := db.History(ctx, binding.Key{XAccountType: cfg.Huawei.XAccountType, XAccountID: unquoteArg(args[0])})
				if err != nil {
					return err
				}
				enc := json.NewEncoder(visibleJSON{cmd.OutOrStdout()}) // hidden characters as \u escapes
				for _, c := range changes {
					if err := enc.Encode(c); err != nil {
						return err
					}
				}
				return nil
			})(cmd, args)
		},
	}
}

func bindingsExport(f *storeFlags) *cobra.Command {
	var out string
	cmd := &cobra.Command{
		Use:   "export [--out FILE]",
		Short: "Write every binding as JSON Lines",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return withStore(f, func(ctx context.Context, _ *Config, db binding.Store) error {
				w := cmd.OutOrStdout()
				if out != "" && out != "-" {
					file, err := os.OpenFile(out, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
					if err != nil {
						return err
					}
					defer file.Close()
					w = file
				}
				n, err := binding.Export(ctx, db, w)
				if err != nil {
					return err
				}
				fmt.Fprintf(cmd.ErrOrStderr(), "exported %d binding(s)\n", n)
				return nil
			})(cmd, args)
		},
	}
	cmd.Flags().StringVar(&out, "out", "", "file to create (default: standard output)")
	return cmd
}

func bindingsImport(f *storeFlags) *cobra.Command {
	var skipBad, quiet bool
	cmd := &cobra.Command{
		Use:   "import FILE",
		Short: "Import bindings from JSON Lines (an export, or create-customer results)",
		Long: `Import JSON Lines. Each line is an object with xaccount_id, domain_id and
optionally domain_name and xaccount_type (default: the config's x_account_type),
as exported by "bindings export" or collected from Huawei's create-customer API
(request xaccount_id + response domain_id/domain_name).

Every line is checked first. Without --skip-bad a single bad line refuses the
whole file and nothing is stored; the bad line numbers are listed. Importing the
same file twice changes nothing the second time.`,
		Example: `  partneridp bindings import customers.jsonl --config partneridp.yaml`,
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			in, err := os.Open(args[0])
			if err != nil {
				return err
			}
			defer in.Close()
			return withStore(f, func(ctx context.Context, cfg *Config, db binding.Store) error {
				opts := binding.ImportOptions{XAccountType: cfg.Huawei.XAccountType, Actor: f.actor, SkipBad: skipBad}
				if !quiet {
					opts.Progress = func(done int) { fmt.Fprintf(cmd.ErrOrStderr(), "\r%d record(s) done", done) }
				}
				rep, err := binding.Import(ctx, db, in, opts)
				if !quiet {
					fmt.Fprintln(cmd.ErrOrStderr())
				}
				for _, le := range rep.Bad {
					fmt.Fprintf(cmd.ErrOrStderr(), "%s:%d: %v\n", args[0], le.Line, le.Err)
				}
				if err != nil {
					return err
				}
				fmt.Fprintf(cmd.OutOrStdout(), "read %d, stored %d, unchanged %d, skipped %d\n", rep.Read, rep.Stored, rep.Unchanged, rep.Skipped)
				return nil
			})(cmd, nil)
		},
	}
	cmd.Flags().BoolVar(&skipBad, "skip-bad", false, "store the good lines and report the bad ones")
	cmd.Flags().BoolVar(&quiet, "quiet", false, "no progress output")
	return cmd
}

func bindingsBackup(f *storeFlags) *cobra.Command {
	return &cobra.Command{
		Use:   "backup FILE",
		Short: "Write a consistent copy of the store to FILE (created, never overwritten)",
		Long: `Write a consistent copy of the store. The copy is taken in one read
transaction, so it is consistent even while bindings are being written. To back
up the store of a running "serve", use its data directory's copy from a
filesystem snapshot, or stop it briefly: one process owns the file.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return withStore(f, func(_ context.Context, _ *Config, db binding.Store) error {
				backuper, ok := db.(binding.Backuper)
				if !ok {
					return fmt.Errorf("the %s store has no backup of its own: use bindings export, or the engine's tool (etcdctl snapshot save for etcd)", cfgStoreType(f))
				}
				out, err := os.OpenFile(args[0], os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
				if err != nil {
					return err
				}
				n, err := backuper.Backup(context.Background(), out)
				if cerr := out.Close(); err == nil {
					err = cerr
				}
				if err != nil {
					_ = os.Remove(args[0])
					return err
				}
				if _, isBolt := db.(*bolt.DB); !isBolt {
					fmt.Fprintf(cmd.OutOrStdout(), "wrote %s (%d bytes)\n", args[0], n)
					return nil
				}
				rep, err := bolt.VerifyFile(args[0])
				if err != nil {
					return fmt.Errorf("backup written but does not verify: %w", err)
				}
				if !rep.OK() {
					return fmt.Errorf("backup written but does not verify: %v", rep.Problems)
				}
				fmt.Fprintf(cmd.OutOrStdout(), "wrote %s (%d bytes, %d binding(s), verified)\n", args[0], n, rep.Bindings)
				return nil
			})(cmd, args)
		},
	}
}

func bindingsVerify(f *storeFlags) *cobra.Command {
	return &cobra.Command{
		Use:   "verify",
		Short: "Check the store file's integrity and that its indexes agree",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			rep, err := verifyStore(cmd.Context(), f)
			if err != nil && !errors.Is(err, binding.ErrCorrupt) {
				return err
			}
			out := cmd.OutOrStdout()
			fmt.Fprintf(out, "schema version %d: %d binding(s), %d domain index entries, %d history entries, %d ephemeral record(s)\n",
				rep.SchemaVersion, rep.Bindings, rep.DomainIndex, rep.History, rep.Ephemeral)
			if !rep.OK() {
				for _, p := range rep.Problems {
					fmt.Fprintln(out, "problem:", p)
				}
				return fmt.Errorf("%d problem(s) found: restore from a backup (bindings backup) or re-import an export", len(rep.Problems))
			}
			fmt.Fprintln(out, "OK")
			return nil
		},
	}
}

// verifyStore checks a bolt file without opening it for writing (--store,
// or the config's file), or asks the configured backend to verify itself.
func verifyStore(ctx context.Context, f *storeFlags) (binding.Report, error) {
	cfg, err := LoadConfig(f.config, os.Getenv)
	if err != nil && f.store == "" {
		return binding.Report{}, err
	}
	if f.store != "" || cfg.Store.Type == storeBolt {
		path := f.store
		if path == "" {
			path = cfg.Path(cfg.Store.Path)
		}
		return bolt.VerifyFile(path)
	}
	db, err := openStore(ctx, cfg, storeOpen{})
	if err != nil {
		return binding.Report{}, err
	}
	defer db.Close()
	v, ok := db.(binding.Verifier)
	if !ok {
		return binding.Report{}, fmt.Errorf("the %s store cannot verify itself", cfg.Store.Type)
	}
	return v.Verify(ctx)
}

// cfgStoreType is the configured store type, for messages.
func cfgStoreType(f *storeFlags) string {
	if f.store != "" {
		return storeBolt
	}
	if cfg, err := LoadConfig(f.config, os.Getenv); err == nil {
		return cfg.Store.Type
	}
	return "configured"
}

func changedWord(changed bool, yes, no string) string {
	if changed {
		return yes
	}
	return no
}

func printJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(visibleJSON{w}) // hidden characters as \u escapes
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}
