package idp

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/partneridp/partneridp/binding"
)

// ErrNotReady is matched (errors.Is) by every error Health returns.
var ErrNotReady = errors.New("idp: not ready")

// healthBucket is read (never written) to prove the store answers.
const healthBucket = "health"

const readyTimeout = 2 * time.Second

// Health reports whether the bridge can serve logins now: the store
// answers, the signing certificate is within its validity, and every Huawei
// site's SP metadata is loaded with at least one signing certificate in
// validity.
// Every problem is listed; none of them is secret.
func (s *Server) Health(ctx context.Context) error {
	var problems []string
	if _, err := s.cfg.Ephemeral.Get(ctx, healthBucket, "probe"); err != nil && !errors.Is(err, binding.ErrNotFound) {
		problems = append(problems, fmt.Sprintf("the store does not answer: %v", err))
	}
	now := s.now()
	if cert := s.cfg.Builder.SigningCertificate(); cert == nil {
		problems = append(problems, "no signing certificate")
	} else if now.Before(cert.NotBefore) || !now.Before(cert.NotAfter) {
		problems = append(problems, fmt.Sprintf("the signing certificate is valid %s to %s, not now: rotate the IdP key",
			cert.NotBefore.UTC().Format(time.RFC3339), cert.NotAfter.UTC().Format(time.RFC3339)))
	}
	for i := range s.sites {
		if p := spProblem(&s.sites[i], now); p != "" {
			problems = append(problems, p)
		}
	}
	if len(problems) > 0 {
		return fmt.Errorf("%w: %s", ErrNotReady, strings.Join(problems, "; "))
	}
	return nil
}

// spProblem is what keeps site's SP from verifying requests now, or "".
func spProblem(site *Site, now time.Time) string {
	sp := site.SP()
	switch {
	case sp == nil && site.Name == "":
		return "no Huawei SP metadata is loaded"
	case sp == nil:
		return fmt.Sprintf("no Huawei SP metadata is loaded for site %s", site.Name)
	case len(sp.SigningCerts) == 0:
		return fmt.Sprintf("the SP metadata of %s has no signing certificate", sp.EntityID)
	}
	for _, c := range sp.SigningCerts {
		if !now.Before(c.NotBefore) && now.Before(c.NotAfter) {
			return ""
		}
	}
	return fmt.Sprintf("every signing certificate in the SP metadata of %s is expired or not yet valid: reload that metadata", sp.EntityID)
}

func (s *Server) handleHealthz(w http.ResponseWriter, r *http.Request) {
	writePlain(w, r, http.StatusOK, "ok\n")
}

func (s *Server) handleReadyz(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), readyTimeout)
	defer cancel()
	if err := s.Health(ctx); err != nil {
		writePlain(w, r, http.StatusServiceUnavailable, err.Error()+"\n")
		return
	}
	writePlain(w, r, http.StatusOK, "ok\n")
}

func writePlain(w http.ResponseWriter, r *http.Request, status int, body string) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	if r.Method != http.MethodHead {
		_, _ = io.WriteString(w, body)
	}
}
