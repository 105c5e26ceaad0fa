package main

import (
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/partneridp/partneridp/metadata"
)

// rotationFiles is the config's idp.signing section as rollover files.
func rotationFiles(cfg *Config) metadata.RotationFiles {
	s := cfg.IdP.Signing
	return metadata.RotationFiles{
		Key:          cfg.Path(s.KeyFile),
		Cert:         cfg.Path(s.CertFile),
		NextKey:      cfg.Path(s.NextKeyFile),
		NextCert:     cfg.Path(s.NextCertFile),
		PreviousCert: cfg.Path(s.PreviousCertFile),
	}
}

// partnerCenterUpload is where the IDP Metadata.xml goes in Huawei Partner Center.
const partnerCenterUpload = "Huawei Partner Center: Support > Capability Opening > Access Configuration > Modify"

const rolloverHelp = `A signing-key rollover replaces the IdP's signing key without breaking logins.
Huawei IAM checks our assertions against the certificates in the IDP
Metadata.xml uploaded in Partner Center, so a new certificate must be
published there before it signs, and the old one stays published until
Huawei no longer needs it. After each step below, regenerate the metadata and
upload it:

    partneridp metadata --config FILE --out IDP-Metadata.xml
    then ` + partnerCenterUpload + `

  partneridp keys rotate stage --config FILE
      makes a new key pair in next_key_file/next_cert_file. The metadata lists
      the current and the next certificate; the current key still signs.
  partneridp keys rotate promote --config FILE
      once Huawei uses that metadata: the next pair becomes current, the old
      certificate moves to previous_cert_file, the old private key is deleted.
      Restart partneridp; the metadata lists the new and the previous
      certificate.
  partneridp keys rotate retire --config FILE
      once Huawei uses that metadata: deletes previous_cert_file; the metadata
      lists the new certificate only.

The files are named in the config's idp.signing section (key_file, cert_file,
next_key_file, next_cert_file, previous_cert_file) and stay configured; which
of them exist is the stage. "partneridp keys status --config FILE" shows it.`

func newKeysCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "keys",
		Short: "Show and roll over the IdP signing keys",
		Long:  rolloverHelp,
	}
	rotate := &cobra.Command{
		Use:   "rotate",
		Short: "Roll the signing key over: stage, promote, retire",
		Long:  rolloverHelp,
		Example: `  partneridp keys rotate stage   --config partneridp.yaml
  partneridp keys rotate promote --config partneridp.yaml
  partneridp keys rotate retire  --config partneridp.yaml`,
	}
	rotate.AddCommand(newRotateStageCmd(), newRotatePromoteCmd(), newRotateRetireCmd())
	cmd.AddCommand(newKeysStatusCmd(), rotate)
	return cmd
}

// loadRotationConfig reads the config for a keys subcommand.
func loadRotationConfig(path string) (*Config, metadata.RotationFiles, error) {
	cfg, err := LoadConfig(path, os.Getenv)
	if err != nil {
		return nil, metadata.RotationFiles{}, err
	}
	return cfg, rotationFiles(cfg), nil
}

func newRotateStageCmd() *cobra.Command {
	var (
		configPath string
		bits, days int
		force      bool
	)
	cmd := &cobra.Command{
		Use:   "stage",
		Short: "Make the next signing key pair and publish its certificate beside the current one",
		Long: `Make a new RSA key pair (the current key's size unless --bits) and a self-signed
certificate with the current certificate's subject, written to the config's
idp.signing next_key_file (mode 0600) and next_cert_file. Both, and
previous_cert_file, must be configured. An already staged pair is kept unless
--force; a previous certificate still published must be retired first.

The current key keeps signing. Afterwards:
  1. partneridp metadata --config FILE --out IDP-Metadata.xml
     (it now lists the current and the next certificate)
  2. Upload IDP-Metadata.xml in ` + partnerCenterUpload + `.
  3. Wait until Huawei uses the new metadata.
  4. partneridp keys rotate promote --config FILE`,
		Example: `  partneridp keys rotate stage --config partneridp.yaml`,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if days <= 0 || days > 3650*3 {
				return fmt.Errorf("--days %d: choose between 1 and %d", days, 3650*3)
			}
			cfg, files, err := loadRotationConfig(configPath)
			if err != nil {
				return err
			}
			now := time.Now()
			k, err := metadata.StageNextKey(files, metadata.StageOptions{
				Bits: bits, Validity: time.Duration(days) * 24 * time.Hour, Force: force, Now: now,
			})
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			fmt.Fprintf(out, "Staged a new RSA-%d key pair:\n", k.Key.N.BitLen())
			fmt.Fprintf(out, "  next_key_file   %s (mode 0600)\n", files.NextKey)
			fmt.Fprintf(out, "  next_cert_file  %s\n", files.NextCert)
			printCert(out, "  next", k.Cert, now)
			published, err := publishedCount(cfg, now)
			if err != nil {
				return fmt.Errorf("the pair is staged, but the metadata does not build: %w", err)
			}
			fmt.Fprintf(out, "\nThe IdP metadata now publishes %d certificates (current and next); the current key still signs.\n", published)
			printSteps(out,
				fmt.Sprintf("partneridp metadata --config %s --out IDP-Metadata.xml", configPath),
				"Upload IDP-Metadata.xml in "+partnerCenterUpload+".",
				"Wait until Huawei uses the new metadata.",
				fmt.Sprintf("partneridp keys rotate promote --config %s", configPath),
			)
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&configPath, "config", "partneridp.yaml", "config file")
	f.IntVar(&bits, "bits", 0, "RSA key size: 2048, 3072 or 4096 (default: the current key's size)")
	f.IntVar(&days, "days", 1095, "certificate validity in days")
	f.BoolVar(&force, "force", false, "replace an already staged next key pair")
	return cmd
}

func newRotatePromoteCmd() *cobra.Command {
	var configPath string
	cmd := &cobra.Command{
		Use:   "promote",
		Short: "Make the staged key pair current; keep the old certificate published as previous",
		Long: `Make the staged next key pair the current one. Run it only after Huawei uses
the metadata that lists the next certificate (see "stage").

It refuses unless a matching, valid next pair is staged and previous_cert_file
is configured and free. Then, in this order, each file written to a temporary
file and renamed into place:
  1. the current certificate is copied to previous_cert_file;
  2. the next key replaces key_file (the old private key is deleted: it must
     never sign again), and next_key_file is removed;
  3. the next certificate replaces cert_file, and next_cert_file is removed.
If it stops half-way (a crash, a full disk), run it again: it recognises
where it stopped and finishes. Until then partneridp refuses to start rather
than sign with a key that does not match its certificate.

Afterwards:
  1. Reload partneridp (kill -HUP its process, or systemctl reload partneridp),
     so that it signs with the new key and serves the new metadata.
  2. partneridp metadata --config FILE --out IDP-Metadata.xml
     (it lists the new certificate and, as previous, the old one)
  3. Upload IDP-Metadata.xml in ` + partnerCenterUpload + `.
  4. When Huawei uses it: partneridp keys rotate retire --config FILE`,
		Example: `  partneridp keys rotate promote --config partneridp.yaml`,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, files, err := loadRotationConfig(configPath)
			if err != nil {
				return err
			}
			now := time.Now()
			res, err := metadata.PromoteNextKey(files, now)
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			if res.Resumed {
				fmt.Fprintln(out, "Finished an interrupted promotion.")
			}
			fmt.Fprintln(out, "Promoted the staged key pair; the old private key was deleted.")
			printCert(out, "  current", res.New, now)
			if res.OldExpiredRemoved {
				fmt.Fprintf(out, "  the old certificate had expired (%s): it is not published as previous\n", res.Old.NotAfter.UTC().Format(time.DateOnly))
			} else {
				printCert(out, "  previous", res.Old, now)
			}
			published, err := publishedCount(cfg, now)
			if err != nil {
				return fmt.Errorf("promoted, but the metadata does not build: %w", err)
			}
			fmt.Fprintf(out, "\nThe IdP metadata now publishes %d certificate(s); the new key signs once partneridp reloads.\n", published)
			steps := []string{
				"Reload partneridp so that it signs with the new key: kill -HUP its process, or systemctl reload partneridp.",
				fmt.Sprintf("partneridp metadata --config %s --out IDP-Metadata.xml", configPath),
				"Upload IDP-Metadata.xml in " + partnerCenterUpload + ".",
			}
			if !res.OldExpiredRemoved {
				steps = append(steps, fmt.Sprintf("When Huawei uses it: partneridp keys rotate retire --config %s", configPath))
			}
			printSteps(out, steps...)
			return nil
		},
	}
	cmd.Flags().StringVar(&configPath, "config", "partneridp.yaml", "config file")
	return cmd
}

func newRotateRetireCmd() *cobra.Command {
	var configPath string
	cmd := &cobra.Command{
		Use:   "retire",
		Short: "Stop publishing the previous certificate",
		Long: `Delete previous_cert_file, so that the metadata lists only the current
certificate. Run it after Huawei uses the metadata made after "promote".

Afterwards:
  1. partneridp metadata --config FILE --out IDP-Metadata.xml
     (it lists only the current certificate)
  2. Upload IDP-Metadata.xml in ` + partnerCenterUpload + `.`,
		Example: `  partneridp keys rotate retire --config partneridp.yaml`,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, files, err := loadRotationConfig(configPath)
			if err != nil {
				return err
			}
			now := time.Now()
			old, err := metadata.RetirePreviousCert(files)
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			fmt.Fprintf(out, "Retired the previous certificate (removed %s):\n", files.PreviousCert)
			printCert(out, "  retired", old, now)
			published, err := publishedCount(cfg, now)
			if err != nil {
				return fmt.Errorf("retired, but the metadata does not build: %w", err)
			}
			fmt.Fprintf(out, "\nThe IdP metadata now publishes %d certificate(s).\n", published)
			printSteps(out,
				fmt.Sprintf("partneridp metadata --config %s --out IDP-Metadata.xml", configPath),
				"Upload IDP-Metadata.xml in "+partnerCenterUpload+".",
			)
			return nil
		},
	}
	cmd.Flags().StringVar(&configPath, "config", "partneridp.yaml", "config file")
	return cmd
}

// errNeedsAttention makes `keys status` exit non-zero when the files need a fix.
var errNeedsAttention = errors.New("the signing key files need attention (see above)")

func newKeysStatusCmd() *cobra.Command {
	var configPath string
	cmd := &cobra.Command{
		Use:   "status",
		Short: "Show the rollover stage and each certificate's fingerprint and expiry",
		Long: `Show which rollover stage the signing key files are in (single, staged,
promoted), each certificate's SHA-256 fingerprint and expiry, whether each key
matches its certificate, and the next step. The exit status is 1 when the
files are inconsistent or a promotion was interrupted.

` + rolloverHelp,
		Example: `  partneridp keys status --config partneridp.yaml`,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			_, files, err := loadRotationConfig(configPath)
			if err != nil {
				return err
			}
			now := time.Now()
			st := metadata.InspectRotation(files, now)
			out := cmd.OutOrStdout()
			fmt.Fprintf(out, "stage: %s\n", st.Stage)
			printStatusCert(out, "current", "cert_file", files.Cert, st.Current, st.CurrentKeyMatches, now)
			printStatusCert(out, "next", "next_cert_file", files.NextCert, st.Next, st.NextKeyMatches, now)
			printStatusCert(out, "previous", "previous_cert_file", files.PreviousCert, st.Previous, false, now)
			for _, p := range st.Problems {
				fmt.Fprintf(out, "problem: %s\n", p)
			}
			fmt.Fprintf(out, "next step: %s\n", nextRotationStep(st.Stage, configPath))
			if st.Stage == metadata.RotationInconsistent || st.Stage == metadata.RotationPromoting {
				return errNeedsAttention
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&configPath, "config", "partneridp.yaml", "config file")
	return cmd
}

func nextRotationStep(s metadata.RotationStage, configPath string) string {
	switch s {
	case metadata.RotationSingle:
		return fmt.Sprintf("none; to roll the key over: partneridp keys rotate stage --config %s", configPath)
	case metadata.RotationStaged:
		return fmt.Sprintf("upload metadata listing the next certificate in %s; once Huawei uses it: partneridp keys rotate promote --config %s", partnerCenterUpload, configPath)
	case metadata.RotationPromoted:
		return fmt.Sprintf("reload partneridp (kill -HUP, or systemctl reload) and upload the current metadata in %s; once Huawei uses it: partneridp keys rotate retire --config %s", partnerCenterUpload, configPath)
	case metadata.RotationPromoting:
		return fmt.Sprintf("partneridp keys rotate promote --config %s (it finishes the interrupted promotion)", configPath)
	}
	return "fix the problems above"
}

func printStatusCert(w io.Writer, role, field, path string, cert *x509.Certificate, keyMatches bool, now time.Time) {
	switch {
	case path == "":
		fmt.Fprintf(w, "%-9s %s not configured\n", role, field)
		return
	case cert == nil:
		fmt.Fprintf(w, "%-9s %s (none)\n", role, path)
		return
	}
	fmt.Fprintf(w, "%-9s %s\n", role, path)
	printCert(w, "         ", cert, now)
	if role != "previous" {
		match := "matches"
		if !keyMatches {
			match = "DOES NOT match (or is missing)"
		}
		fmt.Fprintf(w, "          private key %s\n", match)
	}
}

// printCert prints a certificate's fingerprint and expiry, never key material.
func printCert(w io.Writer, label string, cert *x509.Certificate, now time.Time) {
	left := cert.NotAfter.Sub(now)
	expiry := fmt.Sprintf("valid until %s (%d days)", cert.NotAfter.UTC().Format(time.DateOnly), int(left.Hours()/24))
	if left < 0 {
		expiry = fmt.Sprintf("EXPIRED %s", cert.NotAfter.UTC().Format(time.DateOnly))
	}
	fmt.Fprintf(w, "%s SHA-256 %s, %s\n", label, metadata.FingerprintSHA256(cert), expiry)
}

func printSteps(w io.Writer, steps ...string) {
	fmt.Fprintln(w, "\nNext steps:")
	for i, s := range steps {
		fmt.Fprintf(w, "  %d. %s\n", i+1, strings.TrimSpace(s))
	}
}

// publishedCount builds the metadata as `partneridp metadata` would and says
// how many certificates it lists.
func publishedCount(cfg *Config, now time.Time) (int, error) {
	_, ks, err := buildIDPMetadata(cfg, now)
	if err != nil {
		return 0, err
	}
	return len(ks.Published()), nil
}
