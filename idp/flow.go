package idp

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/partneridp/partneridp/binding"
	"github.com/partneridp/partneridp/idp/samlreq"
	"github.com/partneridp/partneridp/metadata"
)

// flowIDBytes is the size of a flow ID: 128 random bits, hex in URLs.
const flowIDBytes = 16

// flowRecord is a verified AuthnRequest waiting for its answer: what
// building the Response needs later, and nothing else. It is stored before
// any login page is shown and taken (single use) to answer.
type flowRecord struct {
	RequestID       string    `json:"request_id"`
	SP              string    `json:"sp"`  // the SP's entityID, looked up again on completion
	ACS             string    `json:"acs"` // from SP metadata
	NameIDFormat    string    `json:"nameid_format,omitempty"`
	SPNameQualifier string    `json:"sp_name_qualifier,omitempty"`
	RelayState      string    `json:"relay_state,omitempty"`
	IsPassive       bool      `json:"is_passive,omitempty"`
	ForceAuthn      bool      `json:"force_authn,omitempty"`
	Created         time.Time `json:"created"`
	Expires         time.Time `json:"expires"`
}

func flowFrom(req *samlreq.AuthnRequest, now time.Time, ttl time.Duration) flowRecord {
	return flowRecord{
		RequestID:       req.ID,
		SP:              req.Issuer,
		ACS:             req.ACS.Location,
		NameIDFormat:    req.NameIDFormat,
		SPNameQualifier: req.SPNameQualifier,
		RelayState:      req.RelayState,
		IsPassive:       req.IsPassive,
		ForceAuthn:      req.ForceAuthn,
		Created:         now.UTC(),
		Expires:         now.Add(ttl).UTC(),
	}
}

// saveFlow stores rec under a new random flow ID.
func (s *Server) saveFlow(ctx context.Context, rec flowRecord) (string, error) {
	var b [flowIDBytes]byte
	if err := s.readRand(b[:]); err != nil {
		return "", fmt.Errorf("idp: reading randomness for a flow ID: %w", err)
	}
	id := hex.EncodeToString(b[:])
	value, err := json.Marshal(rec)
	if err != nil {
		return "", fmt.Errorf("idp: encoding the flow record: %w", err)
	}
	if err := s.cfg.Ephemeral.Add(ctx, bucketFlows, id, value, rec.Expires); err != nil {
		return "", fmt.Errorf("idp: storing the flow record: %w", err)
	}
	return id, nil
}

// takeFlow consumes the flow record and finds its SP in the current trust,
// and the site of that SP.
func (s *Server) takeFlow(ctx context.Context, id string) (flowRecord, *metadata.SP, *Site, error) {
	var rec flowRecord
	value, err := s.cfg.Ephemeral.Take(ctx, bucketFlows, id)
	if errors.Is(err, binding.ErrNotFound) {
		return rec, nil, nil, ErrFlowNotFound
	}
	if err != nil {
		return rec, nil, nil, fmt.Errorf("idp: reading the flow record: %w", err)
	}
	if err := json.Unmarshal(value, &rec); err != nil {
		return rec, nil, nil, fmt.Errorf("idp: flow record %s does not decode: %w", id, err)
	}
	// The store drops expired records; this guards against a store whose
	// clock differs from ours.
	if !s.now().Before(rec.Expires) {
		return rec, nil, nil, ErrFlowNotFound
	}
	sp, ok := s.cfg.SPs(rec.SP)
	site, isSite := s.siteOfSP(rec.SP)
	if !ok || sp == nil || !isSite {
		return rec, nil, nil, &RequestError{Status: http.StatusBadRequest, Reason: ReasonSPNotTrusted,
			Msg: fmt.Sprintf("the SP %.200q that started this sign-in is no longer trusted; start again at the SP", rec.SP)}
	}
	return rec, sp, site, nil
}

// validFlowID accepts what saveFlow makes: lower-case hex of flowIDBytes.
func validFlowID(id string) bool {
	if len(id) != 2*flowIDBytes {
		return false
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}

// platformLoginURL is where a user of site without a session is sent: the
// login of the platform that owns the site's xAccountType, with return_to =
// our handoff URL naming the flow.
func (s *Server) platformLoginURL(site *Site, flowID string) string {
	returnTo := s.handoffURL + "?flow=" + flowID
	sep := "?"
	if strings.Contains(site.PlatformLoginURL, "?") {
		sep = "&"
	}
	return site.PlatformLoginURL + sep + "return_to=" + url.QueryEscape(returnTo)
}
