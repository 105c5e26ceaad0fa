package main

import (
	"errors"
	"fmt"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/partneridp/partneridp/binding"
	"github.com/partneridp/partneridp/idp/handoff"
)

func newTokenCmd() *cobra.Command {
	var (
		configPath, platform, sub, name, mobile, email, service string
		lifetime                                                time.Duration
		claims                                                  []string
		urlOnly                                                 bool
	)
	cmd := &cobra.Command{
		Use:   "token --sub XACCOUNT_ID",
		Short: "Mint a handoff token from a platform's configured test key",
		Long: `Mint a handoff token the way a platform backend would, signed with the private
key named by the platform's test_signing_key_file in the config. It prints the
token and the bridge URL that hands the user over. For tests and integration
work: production platforms mint tokens with their own keys (see README, "For
platform developers").`,
		Example: `  partneridp token --config partneridp.yaml --sub cust-0001 --name zhangsan --mobile 86-13800000000`,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := LoadConfig(configPath, os.Getenv)
			if err != nil {
				return err
			}
			pc, err := pickPlatform(cfg, platform)
			if err != nil {
				return err
			}
			if pc.SigningKeyFile == "" {
				return fmt.Errorf("platform %s has no test_signing_key_file: add one to the config to mint test tokens", pc.Name)
			}
			if err := handoff.ValidXAccountID(sub); err != nil {
				return err
			}
			key, err := handoff.LoadSigningKey(cfg.Path(pc.SigningKeyFile), pc.Alg)
			if err != nil {
				return err
			}
			extra := map[string]any{}
			for k, v := range map[string]string{"name": name, "mobile": mobile, "email": email} {
				if v != "" {
					extra[k] = v
				}
			}
			for _, c := range claims {
				k, v, ok := strings.Cut(c, "=")
				if !ok || k == "" {
					return fmt.Errorf("--claim %q: use name=value", c)
				}
				extra[k] = v
			}
			m := &handoff.Minter{Issuer: pc.Issuer, Audience: pc.Audience, KID: pc.KeyID, Alg: pc.Alg, Key: key, Lifetime: lifetime}
			tok, err := m.Mint(sub, extra)
			if err != nil {
				return err
			}
			u := handoffURL(cfg, tok, service)
			if urlOnly {
				fmt.Fprintln(cmd.OutOrStdout(), u)
				return nil
			}
			fmt.Fprintln(cmd.OutOrStdout(), tok)
			fmt.Fprintln(cmd.ErrOrStderr(), "hand the user over with:", u)
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&configPath, "config", "partneridp.yaml", "config file")
	f.StringVar(&platform, "platform", "", "platform name (default: the first)")
	f.StringVar(&sub, "sub", "", "the customer's xaccount_id")
	f.StringVar(&name, "name", "", "name claim")
	f.StringVar(&mobile, "mobile", "", "mobile claim, as countrycode-number")
	f.StringVar(&email, "email", "", "email claim")
	f.StringArrayVar(&claims, "claim", nil, "extra string claim name=value (repeatable)")
	f.StringVar(&service, "service", "", "console URL to land on (must be on the allow-list)")
	f.DurationVar(&lifetime, "lifetime", time.Minute, "token lifetime (at most the platform's max_token_lifetime)")
	f.BoolVar(&urlOnly, "url", false, "print only the bridge handoff URL")
	_ = cmd.MarkFlagRequired("sub")
	return cmd
}

func pickPlatform(cfg *Config, name string) (PlatformConfig, error) {
	if name == "" {
		return cfg.Platforms[0], nil
	}
	for _, p := range cfg.Platforms {
		if p.Name == name {
			return p, nil
		}
	}
	return PlatformConfig{}, fmt.Errorf("no platform named %q in the config", name)
}

func handoffURL(cfg *Config, token, service string) string {
	q := "token=" + queryEscape(token)
	if service != "" {
		q += "&service=" + queryEscape(service)
	}
	return cfg.endpoint(pathHandoff) + "?" + q
}

func newLoginURLCmd() *cobra.Command {
	var (
		configPath, account, service, firstLogin string
	)
	cmd := &cobra.Command{
		Use:   "login-url --account XACCOUNT_ID",
		Short: "Print the Huawei login link the bridge sends this account to",
		Long: `Print the Huawei IAM login link for an account: the site's login URL with
xAccountType, isFirstLogin (true when the store has no binding for the account)
and service. --first-login true|false skips the store lookup (useful while
"serve" owns the store file).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := LoadConfig(configPath, os.Getenv)
			if err != nil {
				return err
			}
			if err := handoff.ValidXAccountID(account); err != nil {
				return err
			}
			site, err := resolveSite(cfg, cfg.Huawei) // the first site
			if err != nil {
				return err
			}
			if service == "" {
				service = site.ConsoleURL
			}
			var first bool
			switch firstLogin {
			case "true", "false":
				first = firstLogin == "true"
			case "":
				db, err := openStore(cmd.Context(), cfg, storeOpen{})
				if err != nil {
					return fmt.Errorf("%w (or pass --first-login true|false)", err)
				}
				defer db.Close()
				_, err = db.Get(cmd.Context(), binding.Key{XAccountType: cfg.Huawei.XAccountType, XAccountID: account})
				switch {
				case errors.Is(err, binding.ErrNotFound):
					first = true
				case err != nil:
					return err
				}
			default:
				return fmt.Errorf("--first-login %q: use true or false", firstLogin)
			}
			link := handoff.LoginLink{LoginURL: site.LoginURL, XAccountType: cfg.Huawei.XAccountType}
			fmt.Fprintln(cmd.OutOrStdout(), link.URL(first, service))
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&configPath, "config", "partneridp.yaml", "config file")
	f.StringVar(&account, "account", "", "the customer's xaccount_id")
	f.StringVar(&service, "service", "", "console URL (default: the site's console)")
	f.StringVar(&firstLogin, "first-login", "", "true or false instead of looking up the store")
	_ = cmd.MarkFlagRequired("account")
	return cmd
}

func queryEscape(s string) string { return url.QueryEscape(s) }
