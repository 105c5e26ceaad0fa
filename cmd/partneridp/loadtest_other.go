//go:build !linux

package main

import (
	"errors"

	"github.com/spf13/cobra"
)

// newLoadtestCmd: the load test reads the server's CPU and memory from
// /proc, which only Linux has.
func newLoadtestCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "loadtest",
		Short: "Run complete SSO flows against a `serve` child process (Linux only)",
		RunE: func(*cobra.Command, []string) error {
			return errors.New("loadtest reads /proc and runs on Linux only")
		},
	}
}
