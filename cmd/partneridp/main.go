// Command partneridp is the SAML 2.0 identity provider and SSO bridge between
// a partner sales platform and Huawei Cloud IAM (Partner Center "Web UI").
// It only wires: protocol logic lives in idp, metadata and binding.
package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"regexp"
	"runtime/debug"
	"strings"

	"github.com/spf13/cobra"
	"gopkg.in/yaml.v3"
)

// version is set at build time with -ldflags "-X main.version=v1.2.3".
var version = "dev"

// Exit statuses (documented in README "Exit statuses"):
const (
	exitOK      = 0
	exitRuntime = 1  // the command ran and failed: network, store, a refused flow
	exitConfig  = 2  // the config (or a file it names) is wrong: fix it, then start again
	exitVerdict = 3  // a measuring command finished and its verdict is FAIL (loadtest)
	exitUsage   = 64 // unknown command, flag or argument (EX_USAGE)
)

func main() {
	os.Exit(runMain(os.Args[1:], os.Stdout, os.Stderr))
}

// runMain runs the CLI with args and returns the exit status; errors go to
// stderr, with the command's usage after a usage error.
func runMain(args []string, stdout, stderr io.Writer) int {
	root := newRootCmd(stdout, stderr)
	root.SetArgs(args)
	err := root.Execute()
	if err == nil {
		return exitOK
	}
	code := exitCode(err)
	msg := err.Error()
	if strings.HasPrefix(msg, "required flag(s) ") {
		// cobra names required flags without their dashes: say --sub, as typed.
		msg = requiredFlagRE.ReplaceAllString(msg, "--$1")
	}
	fmt.Fprintln(stderr, "partneridp:", msg)
	if code == exitUsage {
		var ue *usageError
		c := root
		if errors.As(err, &ue) && ue.cmd != nil {
			c = ue.cmd
		} else if found, _, ferr := root.Find(args); ferr == nil && found != nil {
			c = found
		}
		fmt.Fprintf(stderr, "\n%s", c.UsageString())
	}
	return code
}

// exitCode maps an error to the documented exit status.
func exitCode(err error) int {
	var ce *ConfigError
	var ue *usageError
	var ve *verdictError
	switch {
	case err == nil:
		return exitOK
	case errors.As(err, &ce):
		return exitConfig
	case errors.As(err, &ue), isCobraUsageError(err):
		return exitUsage
	case errors.As(err, &ve):
		return exitVerdict
	}
	return exitRuntime
}

// requiredFlagRE finds the quoted flag names in cobra's "required flag(s)
// "a", "b" not set".
var requiredFlagRE = regexp.MustCompile(`"([a-z][a-z0-9-]*)"`)

// usageError is a bad flag or argument; main prints the command's usage.
type usageError struct {
	cmd *cobra.Command
	err error
}

func (e *usageError) Error() string { return e.err.Error() }
func (e *usageError) Unwrap() error { return e.err }

// verdictError is a command that ran to the end and judged the result a
// failure (exit status 3).
type verdictError struct{ msg string }

func (e *verdictError) Error() string { return e.msg }

// isCobraUsageError recognises the errors cobra makes for an unknown
// command or a wrong number of arguments (it has no types for them).
func isCobraUsageError(err error) bool {
	m := err.Error()
	for _, p := range []string{"unknown command ", "required flag(s) ", "accepts ", "requires at least ", "requires at most ", "accepts between ", "invalid argument "} {
		if strings.HasPrefix(m, p) {
			return true
		}
	}
	return false
}

func newRootCmd(stdout, stderr io.Writer) *cobra.Command {
	root := &cobra.Command{
		Use:   "partneridp",
		Short: "SAML identity provider bridging a partner platform's users into Huawei Cloud",
		Long: `partneridp is the identity provider of a Huawei Partner Center "Web UI" integration.
It publishes the IDP Metadata.xml you upload to Partner Center, verifies Huawei IAM's
signed AuthnRequests, answers with signed assertions for the platform's logged-in
customer, and keeps the partner-account <-> Huawei-account bindings.

Start with:  partneridp demo`,
		SilenceUsage:  true,
		SilenceErrors: true,
		// PARTNERIDP_CONFIG names the config file for every command that
		// has --config, unless --config is given.
		PersistentPreRunE: func(cmd *cobra.Command, _ []string) error {
			if f := cmd.Flags().Lookup("config"); f != nil && !f.Changed {
				if v := os.Getenv("PARTNERIDP_CONFIG"); v != "" {
					if err := f.Value.Set(v); err != nil {
						return err
					}
				}
			}
			return nil
		},
	}
	root.SetOut(stdout)
	root.SetErr(stderr)
	root.SetFlagErrorFunc(func(c *cobra.Command, err error) error {
		return &usageError{cmd: c, err: fmt.Errorf("%w (see: %s --help)", err, c.CommandPath())}
	})
	// Every subcommand, here and nowhere else: each is built in its own
	// file, and this list is the whole CLI.
	root.AddCommand(
		newVersionCmd(),
		newConfigCmd(),
		newServeCmd(),
		newHealthcheckCmd(),
		newMetadataCmd(),
		newSPMetadataCmd(),
		newKeygenCmd(),
		newKeysCmd(),
		newBindingsCmd(),
		newStoreCmd(),
		newCustomersCmd(),
		newWebhooksCmd(),
		newTokenCmd(),
		newLoginURLCmd(),
		newMockHuaweiCmd(),
		newDemoCmd(),
		newSelftestCmd(),
		newLoadtestCmd(),
	)
	return root
}

func newVersionCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print the version, the Go version and the dependency versions",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			out := cmd.OutOrStdout()
			info, ok := debug.ReadBuildInfo()
			fmt.Fprintf(out, "partneridp %s\n", moduleVersion(info, ok))
			if !ok {
				return nil
			}
			fmt.Fprintf(out, "go %s\n", info.GoVersion)
			for _, s := range info.Settings {
				if s.Key == "vcs.revision" || s.Key == "vcs.time" || s.Key == "vcs.modified" {
					fmt.Fprintf(out, "%s %s\n", s.Key, s.Value)
				}
			}
			for _, d := range info.Deps {
				v := d.Version
				if d.Replace != nil {
					v += " => " + d.Replace.Path + " " + d.Replace.Version
				}
				fmt.Fprintf(out, "  %s %s\n", d.Path, v)
			}
			return nil
		},
	}
}

// moduleVersion is the version stamped with -ldflags "-X main.version=…",
// else the module version that `go install …@v1.2.3` records, else "dev".
func moduleVersion(info *debug.BuildInfo, ok bool) string {
	if version != "dev" {
		return version
	}
	if ok && info.Main.Version != "" && info.Main.Version != "(devel)" {
		return info.Main.Version
	}
	return version
}

// isMockConfig reports whether path is a `mock-huawei` config (it has the
// mock's own keys), so that `config check` can say which command it is for.
func isMockConfig(path string) bool {
	data, err := os.ReadFile(path)
	if err != nil {
		return false
	}
	var probe map[string]any
	if yaml.Unmarshal(data, &probe) != nil {
		return false
	}
	_, idps := probe["idps"]
	_, base := probe["base_url"]
	_, pub := probe["public_url"]
	return (idps || base) && !pub
}

func newConfigCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "config",
		Short: "Work with the configuration file",
	}
	var path string
	var offline, connect bool
	check := &cobra.Command{
		Use:   "check",
		Short: "Validate a config file and report every problem at once",
		Long: `Validate a config file and everything serve checks before it starts: YAML syntax,
unknown keys, required values, URLs and durations; that the files it names exist;
TLS or proxy settings; key file modes (0600) and certificate validity; the
platforms' keys; the data and audit-log folders; and Huawei's SP metadata, fetched
and verified when it is a URL (--offline skips only that). Every problem is
listed; the exit status is 2 when there is any. PARTNERIDP_* environment
overrides are applied first. --connect also opens the configured store (for
etcd: proves the cluster answers with the given TLS settings and credentials
and holds this build's schema) and counts its bindings.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := LoadConfig(path, os.Getenv)
			if err != nil {
				if isMockConfig(path) {
					return &ConfigError{File: path, Problems: []string{"this is a config for `partneridp mock-huawei --config " + path + "`, not for the bridge; the bridge's example is partneridp.example.yaml"}}
				}
				return err
			}
			if problems := preflight(cfg, offline); len(problems) > 0 {
				return &ConfigError{File: path, Problems: problems}
			}
			note := ""
			if offline {
				note = "; SP metadata URL not fetched (--offline)"
			}
			if connect {
				n, err := connectStore(cmd.Context(), cfg)
				if err != nil {
					return &ConfigError{File: path, Problems: []string{err.Error()}}
				}
				note += fmt.Sprintf("; store %s reached, %d binding(s)", cfg.Store.Type, n)
			}
			sites := "site " + cfg.Huawei.Site
			if len(cfg.HuaweiSites) > 0 {
				var names []string
				for _, h := range cfg.HuaweiSites {
					names = append(names, h.Name)
				}
				sites = "sites " + strings.Join(names, ", ")
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%s: OK (entityID %s, %s, %d platform(s)%s)\n", path, cfg.IdP.EntityID, sites, len(cfg.Platforms), note)
			if cfg.Development {
				fmt.Fprintln(cmd.ErrOrStderr(), "WARNING: development: true allows http:// URLs and non-Secure cookies; never use it in production")
			}
			return nil
		},
	}
	check.Flags().StringVar(&path, "config", "partneridp.yaml", "config file (or set PARTNERIDP_CONFIG)")
	check.Flags().BoolVar(&offline, "offline", false, "do not fetch SP metadata from its URL (files are still checked)")
	check.Flags().BoolVar(&connect, "connect", false, "also open the configured store and count its bindings (etcd: proves endpoints, TLS and credentials)")
	cmd.AddCommand(check)
	return cmd
}
