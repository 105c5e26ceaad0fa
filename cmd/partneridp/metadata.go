package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/spf13/cobra"

	"github.com/partneridp/partneridp/metadata"
)

// idpMetadataConfig turns the YAML config into what the metadata builder needs.
func idpMetadataConfig(cfg *Config) metadata.IDPConfig {
	m := metadata.IDPConfig{
		EntityID:       cfg.IdP.EntityID,
		SSORedirectURL: cfg.endpoint(pathSSO),
		NameIDFormats:  cfg.IdP.NameIDFormats,
		AllowHTTP:      cfg.Development,
	}
	if cfg.IdP.SSOPost {
		m.SSOPostURL = cfg.endpoint(pathSSO)
	}
	if cfg.IdP.Logout {
		m.SLOURL = cfg.endpoint(pathSLO)
	}
	if o := cfg.IdP.Organization; o != nil {
		m.Organization = &metadata.Organization{Name: o.Name, DisplayName: o.DisplayName, URL: o.URL, Lang: "en"}
	}
	for _, c := range cfg.IdP.Contacts {
		m.Contacts = append(m.Contacts, metadata.Contact{Type: c.Type, Company: c.Company, GivenName: c.GivenName, Email: c.Email})
	}
	return m
}

// loadKeyset loads the signing keyset the config names: the current pair
// and whichever rollover certificates (next, previous) exist.
func loadKeyset(cfg *Config, now time.Time) (*metadata.Keyset, error) {
	return metadata.LoadKeysetFiles(rotationFiles(cfg).Keyset(), now)
}

// buildIDPMetadata makes the IDP Metadata.xml for a config.
func buildIDPMetadata(cfg *Config, now time.Time) ([]byte, *metadata.Keyset, error) {
	ks, err := loadKeyset(cfg, now)
	if err != nil {
		return nil, nil, err
	}
	doc, err := metadata.BuildIDPMetadata(idpMetadataConfig(cfg), ks.Published(), now)
	if err != nil {
		return nil, nil, err
	}
	return doc, ks, nil
}

func newMetadataCmd() *cobra.Command {
	var configPath, out string
	cmd := &cobra.Command{
		Use:   "metadata",
		Short: "Write the IDP Metadata.xml to upload to Huawei Partner Center",
		Long: `Write this IdP's SAML 2.0 metadata: entityID, the signing certificate(s),
NameID formats, the HTTP-Redirect SingleSignOnService (listed first) and, when
configured, the SingleLogoutService. The document is checked before it is
written (schema order, https URLs, certificates unexpired and >= 2048 bits, no
private key material, <= 2 MB); on any problem nothing is written.

Upload it in Partner Center: Support > Capability Opening > Access Configuration
("IDP Metadata file"). With several Huawei sites (huawei_sites), upload the
same file on each site's Partner Center, and set each site's Notification URL
to <public_url>/huawei/bind/<site name>.`,
		Example: `  partneridp metadata --config partneridp.yaml --out IDP-Metadata.xml
  partneridp metadata check IDP-Metadata.xml`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := LoadConfig(configPath, os.Getenv)
			if err != nil {
				return err
			}
			doc, _, err := buildIDPMetadata(cfg, time.Now())
			if err != nil {
				return err
			}
			if out == "" || out == "-" {
				_, err = cmd.OutOrStdout().Write(doc)
				return err
			}
			if err := writeFileAtomic(out, doc, 0o644); err != nil {
				return err
			}
			fmt.Fprintf(cmd.ErrOrStderr(), "wrote %s (%d bytes); upload it in Partner Center > Access Configuration\n", out, len(doc))
			if len(cfg.HuaweiSites) > 1 {
				for _, h := range cfg.HuaweiSites {
					fmt.Fprintf(cmd.ErrOrStderr(), "  site %s (%s): upload it there too; Notification URL %s\n", h.Name, h.XAccountType, cfg.endpoint(pathBind)+"/"+h.Name)
				}
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&configPath, "config", "partneridp.yaml", "config file")
	cmd.Flags().StringVar(&out, "out", "", "file to write (default: standard output)")
	cmd.AddCommand(newMetadataCheckCmd())
	return cmd
}

func newMetadataCheckCmd() *cobra.Command {
	var allowHTTP bool
	cmd := &cobra.Command{
		Use:   "check FILE",
		Short: "Check an IDP Metadata.xml made elsewhere against Huawei's upload rules",
		Long: `Run the same checks as "partneridp metadata" on an existing file and list every
problem. Exit status 1 when there is any.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			doc, err := readCapped(args[0], metadata.MaxIDPMetadataBytes+1)
			if err != nil {
				return err
			}
			problems := metadata.CheckIDPMetadata(doc, metadata.CheckOptions{AllowHTTP: allowHTTP, Now: time.Now()})
			if len(problems) == 0 {
				fmt.Fprintf(cmd.OutOrStdout(), "%s: OK\n", args[0])
				return nil
			}
			for _, p := range problems {
				fmt.Fprintf(cmd.OutOrStdout(), "%s: %s\n", args[0], p)
			}
			return fmt.Errorf("%s: %d problem(s)", args[0], len(problems))
		},
	}
	cmd.Flags().BoolVar(&allowHTTP, "allow-http", false, "accept http:// endpoints (local development only)")
	return cmd
}

func newSPMetadataCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "sp-metadata",
		Short: "Inspect a service provider's (Huawei IAM's) SAML metadata",
	}
	var pinFile, pinSHA string
	var allowHTTP bool
	inspect := &cobra.Command{
		Use:   "inspect FILE|URL",
		Short: "Print entityID, ACS, certificates, fingerprints, expiry and signature status",
		Long: `Load SP metadata from a file or an https URL and print what partneridp trusts
from it. With --pin-cert or --pin-sha256 the metadata's signature must verify
with the pinned certificate, or the command fails.`,
		Example: `  partneridp sp-metadata inspect https://auth.huaweicloud.com/authui/saml/metadata.xml \
    --pin-sha256 70:14:9F:C1:F6:03:92:44:2D:3F:7E:D0:9D:DE:1C:88:1B:A6:D0:08:A6:AB:3E:B0:F7:69:9B:3D:02:CC:79:3E`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts := metadata.SPLoadOptions{PinnedFingerprint: pinSHA, AllowHTTP: allowHTTP, Now: time.Now()}
			if pinFile != "" {
				c, err := metadata.LoadCertificate(pinFile, time.Now())
				if err != nil {
					return err
				}
				opts.PinnedCert = c
			}
			ctx, cancel := context.WithTimeout(cmd.Context(), 30*time.Second)
			defer cancel()
			sp, err := metadata.LoadSP(ctx, args[0], opts)
			if err != nil {
				return err
			}
			sp.Describe(cmd.OutOrStdout(), time.Now())
			return nil
		},
	}
	inspect.Flags().StringVar(&pinFile, "pin-cert", "", "PEM certificate the metadata signature must verify with")
	inspect.Flags().StringVar(&pinSHA, "pin-sha256", "", "SHA-256 fingerprint of the certificate the signature must verify with")
	inspect.Flags().BoolVar(&allowHTTP, "allow-http", false, "allow an http:// URL (local development only)")
	cmd.AddCommand(inspect)
	return cmd
}

// readCapped reads a file, refusing one larger than max bytes.
func readCapped(path string, max int64) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, max+1))
	if err != nil {
		return nil, err
	}
	if int64(len(data)) > max {
		return nil, fmt.Errorf("%s: larger than %d bytes", path, max)
	}
	return data, nil
}

// writeFileAtomic writes via a temporary file and a rename, so that a reader
// never sees half a file and a failure leaves the old file in place.
func writeFileAtomic(path string, data []byte, mode os.FileMode) error {
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, data, mode); err != nil {
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		_ = os.Remove(tmp)
		return err
	}
	return nil
}
