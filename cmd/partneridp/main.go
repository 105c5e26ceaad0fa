// Command partneridp is the SAML 2.0 identity provider and SSO bridge between
// a partner sales platform and Huawei Cloud IAM (Partner Center "Web UI").
// It only wires: protocol logic lives in idp, metadata and binding.
package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"runtime/debug"

	"github.com/spf13/cobra"
)

// version is set at build time with -ldflags "-X main.version=v1.2.3".
var version = "dev"

func main() {
	root := newRootCmd(os.Stdout, os.Stderr)
	if err := root.Execute(); err != nil {
		fmt.Fprintln(os.Stderr, "partneridp:", err)
		var ce *ConfigError
		if errors.As(err, &ce) {
			os.Exit(2)
		}
		os.Exit(1)
	}
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
	}
	root.SetOut(stdout)
	root.SetErr(stderr)
	root.AddCommand(
		newVersionCmd(),
		newConfigCmd(),
	)
	for _, add := range extraCommands {
		root.AddCommand(add())
	}
	return root
}

// extraCommands are registered by the files that define them, so that each
// subcommand lives beside its own wiring.
var extraCommands []func() *cobra.Command

func newVersionCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print the version, the Go version and the dependency versions",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			out := cmd.OutOrStdout()
			fmt.Fprintf(out, "partneridp %s\n", version)
			info, ok := debug.ReadBuildInfo()
			if !ok {
				return nil
			}
			fmt.Fprintf(out, "go %s\n", info.GoVersion)
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

func newConfigCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "config",
		Short: "Work with the configuration file",
	}
	var path string
	check := &cobra.Command{
		Use:   "check",
		Short: "Validate a config file and report every problem at once",
		Long: `Validate a config file: YAML syntax, unknown keys, required values, URLs, durations
and that the files it names exist. Every problem is listed; the exit status is 2
when there is any. PARTNERIDP_* environment overrides are applied first.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := LoadConfig(path, os.Getenv)
			if err != nil {
				return err
			}
			if missing := cfg.CheckFiles(); len(missing) > 0 {
				return &ConfigError{File: path, Problems: missing}
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%s: OK (entityID %s, site %s, %d platform(s))\n", path, cfg.IdP.EntityID, cfg.Huawei.Site, len(cfg.Platforms))
			return nil
		},
	}
	check.Flags().StringVar(&path, "config", "partneridp.yaml", "config file")
	cmd.AddCommand(check)
	return cmd
}
