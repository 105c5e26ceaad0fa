package main

import (
	"crypto/rand"
	"crypto/x509/pkix"
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/partneridp/partneridp/metadata"
)

func newKeygenCmd() *cobra.Command {
	var (
		bits            int
		cn, org, ou, c  string
		days            int
		keyOut, certOut string
		force           bool
	)
	cmd := &cobra.Command{
		Use:   "keygen",
		Short: "Make the IdP signing key and its self-signed certificate",
		Long: `Make an RSA private key and a self-signed X.509 certificate (SHA-256) for signing
assertions. The certificate goes into the IDP Metadata.xml; the key never leaves
this machine. The key file is written with mode 0600. Existing files are kept
unless --force is given.`,
		Example: `  partneridp keygen --cn idp.partner.example --org "Example Partner Ltd" \
    --key-out signing.key --cert-out signing.crt`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if days <= 0 || days > 3650*3 {
				return fmt.Errorf("--days %d: choose between 1 and %d", days, 3650*3)
			}
			subject := pkix.Name{CommonName: cn}
			if org != "" {
				subject.Organization = []string{org}
			}
			if ou != "" {
				subject.OrganizationalUnit = []string{ou}
			}
			if c != "" {
				subject.Country = []string{c}
			}
			now := time.Now().UTC().Truncate(time.Second)
			k, err := metadata.GenerateKeyPair(bits, subject, now.Add(-5*time.Minute), now.AddDate(0, 0, days), rand.Reader)
			if err != nil {
				return err
			}
			if err := metadata.WriteKeyPair(k, keyOut, certOut, force); err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			fmt.Fprintf(out, "wrote %s (RSA-%d private key, mode 0600) and %s\n", keyOut, bits, certOut)
			fmt.Fprintf(out, "certificate: %s, valid until %s\n", k.Cert.Subject, k.Cert.NotAfter.Format(time.DateOnly))
			fmt.Fprintf(out, "SHA-256 fingerprint: %s\n", metadata.FingerprintSHA256(k.Cert))
			return nil
		},
	}
	f := cmd.Flags()
	f.IntVar(&bits, "bits", 2048, "RSA key size: 2048, 3072 or 4096")
	f.StringVar(&cn, "cn", "partneridp", "certificate subject common name")
	f.StringVar(&org, "org", "", "certificate subject organization")
	f.StringVar(&ou, "ou", "", "certificate subject organizational unit")
	f.StringVar(&c, "country", "", "certificate subject country (two letters)")
	f.IntVar(&days, "days", 1095, "certificate validity in days")
	f.StringVar(&keyOut, "key-out", "signing.key", "private key file to write")
	f.StringVar(&certOut, "cert-out", "signing.crt", "certificate file to write")
	f.BoolVar(&force, "force", false, "overwrite existing files")
	return cmd
}
