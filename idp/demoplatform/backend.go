package demoplatform

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/partneridp/partneridp/idp/handoff"
)

// The platform backend's side of the bridge's platform API and webhooks:
// "register a new customer" (the platform asks the bridge to create the
// customer's Huawei account through POST /api/v1/customers) and a
// Standard Webhooks receiver for the bridge's binding-change events.

// Paths of the backend features.
const (
	PathRegister = "/register" // POST: a new customer signs up; the Huawei account is made at once
	PathWebhooks = "/webhooks" // POST: the bridge's binding-change webhooks
)

// APIPath is the bridge's create-customer call below BridgeURL.
const APIPath = "/api/v1/customers"

// Limits of the backend features.
const (
	maxWebhookBytes  = 64 << 10
	maxWebhookEvents = 20
	webhookTolerance = 5 * time.Minute
	maxNameLen       = 64
	apiTimeout       = 30 * time.Second
)

// ReceivedEvent is one webhook the platform accepted.
type ReceivedEvent struct {
	ID         string
	Type       string
	XAccountID string
	DomainID   string
	Source     string
	Seq        uint64
}

// Registered is what the bridge answered for a registered customer.
type Registered struct {
	DomainID   string
	DomainName string
}

// parseWebhookSecret reads a Standard Webhooks "whsec_<base64>" secret.
func parseWebhookSecret(s string) ([]byte, error) {
	raw, ok := strings.CutPrefix(strings.TrimSpace(s), "whsec_")
	if !ok {
		return nil, errors.New("WebhookSecret must start with whsec_")
	}
	key, err := base64.StdEncoding.DecodeString(raw)
	if err != nil || len(key) < 24 {
		return nil, errors.New("WebhookSecret: the part after whsec_ must be base64 of at least 24 bytes")
	}
	return key, nil
}

// handleWebhook verifies and records one webhook, as any platform would:
// the timestamp within 5 minutes, the v1 HMAC-SHA256 over id.timestamp.body.
func (p *Platform) handleWebhook(w http.ResponseWriter, r *http.Request) {
	if p.webhookKey == nil {
		http.Error(w, "webhooks are not enabled on this platform", http.StatusNotFound)
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxWebhookBytes))
	if err != nil {
		http.Error(w, "body unreadable or over 64 KiB", http.StatusRequestEntityTooLarge)
		return
	}
	id, ts := r.Header.Get("webhook-id"), r.Header.Get("webhook-timestamp")
	sec, err := strconv.ParseInt(ts, 10, 64)
	if id == "" || err != nil {
		p.log.Warn("demoplatform: webhook without webhook-id or webhook-timestamp")
		http.Error(w, "webhook-id and webhook-timestamp are required", http.StatusBadRequest)
		return
	}
	if d := p.clock().Sub(time.Unix(sec, 0)); d > webhookTolerance || d < -webhookTolerance {
		p.log.Warn("demoplatform: webhook timestamp outside 5 minutes", "webhook_id", id)
		http.Error(w, "webhook-timestamp outside 5 minutes", http.StatusUnauthorized)
		return
	}
	m := hmac.New(sha256.New, p.webhookKey)
	m.Write([]byte(id + "." + ts + "."))
	m.Write(body)
	want := base64.StdEncoding.EncodeToString(m.Sum(nil))
	ok := false
	for _, s := range strings.Fields(r.Header.Get("webhook-signature")) {
		if v, sig, found := strings.Cut(s, ","); found && v == "v1" && hmac.Equal([]byte(sig), []byte(want)) {
			ok = true
		}
	}
	if !ok {
		p.log.Warn("demoplatform: webhook signature refused", "webhook_id", id)
		http.Error(w, "webhook-signature does not verify", http.StatusUnauthorized)
		return
	}
	var ev struct {
		Type string `json:"type"`
		Data struct {
			Seq        uint64 `json:"seq"`
			Source     string `json:"source"`
			XAccountID string `json:"xaccount_id"`
			DomainID   string `json:"domain_id"`
		} `json:"data"`
	}
	if err := json.Unmarshal(body, &ev); err != nil {
		http.Error(w, "body is not a webhook event", http.StatusBadRequest)
		return
	}
	p.mu.Lock()
	dup := false
	for _, e := range p.events {
		dup = dup || e.ID == id
	}
	if !dup {
		p.events = append(p.events, ReceivedEvent{ID: id, Type: ev.Type, XAccountID: ev.Data.XAccountID, DomainID: ev.Data.DomainID, Source: ev.Data.Source, Seq: ev.Data.Seq})
		if len(p.events) > maxWebhookEvents {
			p.events = p.events[len(p.events)-maxWebhookEvents:]
		}
	}
	p.mu.Unlock()
	p.log.Info("demoplatform: webhook received", "webhook_id", id, "type", ev.Type, "xaccount_id", ev.Data.XAccountID, "duplicate", dup)
	w.WriteHeader(http.StatusNoContent)
}

// Events returns the webhooks received, oldest first (at most the last 20).
func (p *Platform) Events() []ReceivedEvent {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]ReceivedEvent(nil), p.events...)
}

// handleRegister signs a new customer up: the platform's backend asks the
// bridge to create the customer's Huawei account (which the bridge does
// through Huawei's partner API and stores as a binding), adds the customer
// and logs them in.
func (p *Platform) handleRegister(w http.ResponseWriter, r *http.Request) {
	if p.apiMinter == nil {
		renderError(w, http.StatusNotFound, "Not found", "Registration is not enabled on this platform.")
		return
	}
	form, ok := p.readForm(w, r)
	if !ok {
		return
	}
	if len(form["xaccount_id"]) != 1 || len(form["name"]) > 1 {
		renderError(w, http.StatusBadRequest, "Registration refused", "The form must carry xaccount_id once and name at most once.")
		return
	}
	id, name := strings.TrimSpace(form.Get("xaccount_id")), strings.TrimSpace(form.Get("name"))
	if err := handoff.ValidXAccountID(id); err != nil {
		renderError(w, http.StatusBadRequest, "Registration refused", "xaccount_id: "+err.Error())
		return
	}
	if !utf8.ValidString(name) || len(name) > maxNameLen || strings.ContainsFunc(name, func(c rune) bool { return c < 0x20 || c == 0x7f }) {
		renderError(w, http.StatusBadRequest, "Registration refused", fmt.Sprintf("name: at most %d printable characters", maxNameLen))
		return
	}
	p.mu.Lock()
	_, taken := p.byID[id]
	p.mu.Unlock()
	if taken {
		renderError(w, http.StatusConflict, "Registration refused", "xaccount_id "+id+" is already a customer here; pick another or log in.")
		return
	}
	reg, err := p.createCustomer(r.Context(), id)
	if err != nil {
		p.log.Warn("demoplatform: create customer through the bridge failed", "xaccount_id", id, "err", err)
		renderError(w, http.StatusBadGateway, "Huawei account not created", err.Error())
		return
	}
	if name == "" {
		name = id
	}
	p.mu.Lock()
	if _, taken := p.byID[id]; !taken {
		c := Customer{XAccountID: id, Name: name}
		p.customers = append(p.customers, c)
		p.byID[id] = c
	}
	p.registered[id] = reg
	p.mu.Unlock()
	ses, err := p.sessions.start(id)
	if err != nil {
		renderError(w, http.StatusServiceUnavailable, "Login failed", err.Error())
		return
	}
	p.setCookie(w, ses.ID, int(SessionLifetime.Seconds()))
	p.log.Info("demoplatform: customer registered and logged in", "xaccount_id", id, "domain_id", reg.DomainID)
	redirect(w, PathHome)
}

// createCustomer calls the bridge's POST /api/v1/customers with a fresh
// single-use API token.
func (p *Platform) createCustomer(ctx context.Context, id string) (Registered, error) {
	token, err := p.apiMinter.Mint("demo-platform-backend", nil)
	if err != nil {
		return Registered{}, fmt.Errorf("the platform could not sign an API token: %w", err)
	}
	body, _ := json.Marshal(map[string]string{"xaccount_id": id})
	ctx, cancel := context.WithTimeout(ctx, apiTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, p.bridgeURL+APIPath, bytes.NewReader(body))
	if err != nil {
		return Registered{}, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+token)
	res, err := p.httpClient.Do(req)
	if err != nil {
		return Registered{}, fmt.Errorf("the bridge could not be reached: %w", err)
	}
	defer res.Body.Close()
	var out struct {
		DomainID   string `json:"domain_id"`
		DomainName string `json:"domain_name"`
		Reason     string `json:"reason"`
		Message    string `json:"message"`
		HuaweiCode string `json:"huawei_code"`
	}
	if err := json.NewDecoder(io.LimitReader(res.Body, 64<<10)).Decode(&out); err != nil {
		return Registered{}, fmt.Errorf("the bridge answered HTTP %d without JSON", res.StatusCode)
	}
	if res.StatusCode != http.StatusCreated && res.StatusCode != http.StatusOK {
		msg := fmt.Sprintf("the bridge answered HTTP %d, %s: %s", res.StatusCode, out.Reason, out.Message)
		if out.HuaweiCode != "" {
			msg += " (Huawei code " + out.HuaweiCode + ")"
		}
		return Registered{}, errors.New(msg)
	}
	if out.DomainID == "" {
		return Registered{}, errors.New("the bridge's answer has no domain_id")
	}
	return Registered{DomainID: out.DomainID, DomainName: out.DomainName}, nil
}
