package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"

	"github.com/spf13/cobra"

	"github.com/partneridp/partneridp/binding"
	"github.com/partneridp/partneridp/idp/platformapi"
)

// newCustomersCmd: `partneridp customers create|check`, Huawei's partner
// API through the SDK with huawei.partner_api's AK/SK (the same path as
// POST /api/v1/customers).
func newCustomersCmd() *cobra.Command {
	var f storeFlags
	cmd := &cobra.Command{Use: "customers", Short: "Create Huawei customers and check registration details through Huawei's partner API", Args: cobra.NoArgs}
	f.register(cmd)
	var domainName, mobile string
	create := &cobra.Command{
		Use:   "create XACCOUNT_ID",
		Short: "Create a Huawei customer for a platform account and store the binding (an already bound account is shown, Huawei not called)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := binding.ValidXAccountID(args[0]); err != nil {
				return fmt.Errorf("XACCOUNT_ID: %w", err)
			}
			return withStore(&f, func(ctx context.Context, cfg *Config, db binding.Store) error {
				p, err := buildPartner(cfg, os.Getenv)
				if err != nil {
					return err
				}
				if p == nil {
					return errors.New("huawei.partner_api is not configured")
				}
				b, created, err := platformapi.CreateCustomer(ctx, db, p, platformapi.CreateCustomerRequest{XAccountType: cfg.Huawei.XAccountType, XAccountID: args[0], DomainName: domainName, Mobile: mobile}, f.actor, platformapi.Retry{})
				if err != nil {
					return err
				}
				verdict := "existing"
				if created {
					verdict = "created"
				}
				fmt.Fprintf(cmd.OutOrStdout(), "%s %s domain_id %s domain_name %s\n", verdict, visible(b.XAccountID), b.DomainID, visible(b.DomainName))
				return nil
			})(cmd, args)
		},
	}
	create.Flags().StringVar(&domainName, "domain-name", "", "Huawei account name (random when empty)")
	create.Flags().StringVar(&mobile, "mobile", "", "mobile phone (China site)")
	check := &cobra.Command{
		Use:   "check name|email|mobile VALUE",
		Short: "Ask Huawei whether a name, email or mobile number can register",
		Args:  cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			cfg, err := LoadConfig(f.config, os.Getenv)
			if err != nil {
				return err
			}
			p, err := buildPartner(cfg, os.Getenv)
			if err != nil {
				return err
			}
			if p == nil {
				return errors.New("huawei.partner_api is not configured")
			}
			res, err := p.CheckCustomer(cmd.Context(), platformapi.CheckCustomerRequest{SearchType: args[0], SearchValue: args[1]})
			if err != nil {
				return err
			}
			return json.NewEncoder(cmd.OutOrStdout()).Encode(res)
		},
	}
	cmd.AddCommand(create, check)
	return cmd
}
