package metadata

import (
	"fmt"
	"io"
	"math"
	"strings"
	"time"
)

// Describe writes the human summary `partneridp sp-metadata inspect` prints.
func (sp *SP) Describe(w io.Writer, now time.Time) {
	line := func(label, format string, a ...any) {
		fmt.Fprintf(w, "%-22s "+format+"\n", append([]any{label + ":"}, a...)...)
	}
	line("entityID", "%s", sp.EntityID)
	line("metadata signature", "%s", sp.SignatureStatus)
	line("AuthnRequestsSigned", "%t", sp.AuthnRequestsSigned)
	line("WantAssertionsSigned", "%t", sp.WantAssertionsSigned)
	line("NameID formats", "%s", strings.Join(sp.NameIDFormats, ", "))
	fmt.Fprintln(w, "assertion consumer services (HTTP-POST):")
	for _, e := range sp.ACS {
		def := ""
		if e.IsDefault {
			def = " (default)"
		}
		fmt.Fprintf(w, "  [%d] %s%s\n", e.Index, e.Location, def)
	}
	fmt.Fprintln(w, "single logout services:")
	if len(sp.SLO) == 0 {
		fmt.Fprintln(w, "  none")
	}
	for _, e := range sp.SLO {
		fmt.Fprintf(w, "  %s %s\n", bindingName(e.SAMLBinding), e.Location)
		if e.ResponseLocation != "" {
			fmt.Fprintf(w, "    response: %s\n", e.ResponseLocation)
		}
	}
	fmt.Fprintln(w, "signing certificates:")
	for i, c := range sp.SigningCerts {
		fmt.Fprintf(w, "  [%d] subject: %s\n", i+1, c.Subject)
		fmt.Fprintf(w, "      SHA-256: %s\n", FingerprintSHA256(c))
		fmt.Fprintf(w, "      expires: %s (%s)\n", c.NotAfter.UTC().Format(time.RFC3339), daysLeft(c.NotAfter, now))
	}
}

func daysLeft(notAfter, now time.Time) string {
	d := notAfter.Sub(now)
	if d < 0 {
		return fmt.Sprintf("EXPIRED %d days ago", int(math.Ceil(-d.Hours()/24)))
	}
	return fmt.Sprintf("%d days left", int(d.Hours()/24))
}

// bindingName shortens a binding URI to its last part, e.g. HTTP-POST.
func bindingName(uri string) string {
	if i := strings.LastIndex(uri, ":"); i >= 0 {
		return uri[i+1:]
	}
	return uri
}
