package metadata

import (
	"bytes"
	"context"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/beevik/etree"
	xrv "github.com/mattermost/xml-roundtrip-validator"
	dsig "github.com/russellhaering/goxmldsig"
	"github.com/russellhaering/goxmldsig/etreeutils"
)

// Defaults for loading SP metadata.
const (
	DefaultSPMetadataTimeout  = 10 * time.Second
	DefaultSPMetadataMaxBytes = 2 << 20
)

// SignatureStatus values of SP.SignatureStatus.
const (
	SignatureVerified   = "verified"
	SignatureUnsigned   = "unsigned"
	SignatureNotChecked = "present, not checked"
)

// Errors of SP metadata loading. LoadSP and ParseSP wrap one of them.
var (
	ErrSPMetadataSignature = errors.New("SP metadata signature check failed")
	ErrSPMetadataTooLarge  = errors.New("SP metadata is too large")
	ErrSPMetadataDTD       = errors.New("SP metadata contains a DTD or entity declaration")
	ErrSPMetadataMalformed = errors.New("SP metadata is not well-formed XML")
	ErrSPMetadataInvalid   = errors.New("SP metadata is not usable")
	ErrSPMetadataFetch     = errors.New("SP metadata could not be fetched")
	ErrSPMetadataPin       = errors.New("SP metadata pin is misconfigured")
)

// SPLoadOptions says where trust in SP metadata comes from and how much of it
// we are willing to read.
type SPLoadOptions struct {
	// PinnedCert or PinnedFingerprint (SHA-256, colon form or plain hex), when
	// set, make the metadata's enveloped signature mandatory.
	PinnedCert        *x509.Certificate
	PinnedFingerprint string
	HTTPClient        *http.Client  // nil: a default client
	Timeout           time.Duration // 0: DefaultSPMetadataTimeout
	MaxBytes          int64         // 0: DefaultSPMetadataMaxBytes
	AllowHTTP         bool          // plain http URLs and endpoints; local development only
	Now               time.Time     // zero: time.Now()
}

func (o SPLoadOptions) maxBytes() int64 {
	if o.MaxBytes > 0 {
		return o.MaxBytes
	}
	return DefaultSPMetadataMaxBytes
}

func (o SPLoadOptions) timeout() time.Duration {
	if o.Timeout > 0 {
		return o.Timeout
	}
	return DefaultSPMetadataTimeout
}

func (o SPLoadOptions) now() time.Time {
	if o.Now.IsZero() {
		return time.Now()
	}
	return o.Now
}

func (o SPLoadOptions) pinned() bool {
	return o.PinnedCert != nil || o.PinnedFingerprint != ""
}

// LoadSP reads SP metadata from a file path or an https URL (http only with
// AllowHTTP) and parses it with ParseSP.
func LoadSP(ctx context.Context, source string, opts SPLoadOptions) (*SP, error) {
	var data []byte
	var err error
	if isURL(source) {
		data, err = fetchSPMetadata(ctx, source, opts)
	} else {
		data, err = readSPMetadataFile(source, opts.maxBytes())
	}
	if err != nil {
		return nil, err
	}
	sp, err := ParseSP(data, opts)
	if err != nil {
		return nil, fmt.Errorf("SP metadata from %s: %w", source, err)
	}
	return sp, nil
}

func isURL(source string) bool {
	return strings.Contains(source, "://")
}

func readSPMetadataFile(path string, max int64) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrSPMetadataFetch, err)
	}
	defer f.Close()
	return readCapped(f, max, path)
}

// readCapped reads at most max bytes and fails, rather than truncating, when
// there is more.
func readCapped(r io.Reader, max int64, source string) ([]byte, error) {
	data, err := io.ReadAll(io.LimitReader(r, max+1))
	if err != nil {
		return nil, fmt.Errorf("%w: reading %s: %v", ErrSPMetadataFetch, source, err)
	}
	if int64(len(data)) > max {
		return nil, fmt.Errorf("%w: %s is over %d bytes (raise the limit only if the SP really publishes that much)", ErrSPMetadataTooLarge, source, max)
	}
	return data, nil
}

func fetchSPMetadata(ctx context.Context, rawURL string, opts SPLoadOptions) ([]byte, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return nil, fmt.Errorf("%w: %.200q is not a URL", ErrSPMetadataFetch, rawURL)
	}
	if err := checkScheme(u, opts.AllowHTTP); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrSPMetadataFetch, err)
	}
	ctx, cancel := context.WithTimeout(ctx, opts.timeout())
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrSPMetadataFetch, err)
	}
	req.Header.Set("Accept", "application/samlmetadata+xml, application/xml, text/xml")

	client := http.Client{}
	if opts.HTTPClient != nil {
		client = *opts.HTTPClient
	}
	// A redirect must not downgrade to http or wander off forever.
	client.CheckRedirect = func(r *http.Request, via []*http.Request) error {
		if len(via) >= 5 {
			return errors.New("more than 5 redirects")
		}
		return checkScheme(r.URL, opts.AllowHTTP)
	}
	resp, err := client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrSPMetadataFetch, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return nil, fmt.Errorf("%w: GET %s: HTTP status %d (check the metadata URL)", ErrSPMetadataFetch, u.Redacted(), resp.StatusCode)
	}
	max := opts.maxBytes()
	if resp.ContentLength > max {
		return nil, fmt.Errorf("%w: %s announces %d bytes, over the %d-byte limit", ErrSPMetadataTooLarge, u.Redacted(), resp.ContentLength, max)
	}
	data, err := readCapped(resp.Body, max, u.Redacted())
	if err != nil {
		return nil, err
	}
	// A body cut short by the deadline can end in a clean EOF: never parse it.
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("%w: GET %s: %v (the server is too slow; raise the timeout or try again)", ErrSPMetadataFetch, u.Redacted(), err)
	}
	if resp.ContentLength >= 0 && int64(len(data)) != resp.ContentLength {
		return nil, fmt.Errorf("%w: GET %s: got %d of %d bytes", ErrSPMetadataFetch, u.Redacted(), len(data), resp.ContentLength)
	}
	return data, nil
}

func checkScheme(u *url.URL, allowHTTP bool) error {
	switch {
	case u.Scheme == "https":
		return nil
	case u.Scheme == "http" && allowHTTP:
		return nil
	case u.Scheme == "http":
		return fmt.Errorf("%s uses plain http; use https (http is allowed only with allow_http for local development)", u.Redacted())
	}
	return fmt.Errorf("unsupported URL scheme %q (use https, or a file path)", u.Scheme)
}

// ParseSP checks and reads one SP's metadata. With a pin configured the
// enveloped signature on the root must verify against the pinned
// certificate, and the data is read from the verified bytes only.
func ParseSP(data []byte, opts SPLoadOptions) (*SP, error) {
	if max := opts.maxBytes(); int64(len(data)) > max {
		return nil, fmt.Errorf("%w: %d bytes, over the %d-byte limit", ErrSPMetadataTooLarge, len(data), max)
	}
	if hasDTD(data) {
		return nil, fmt.Errorf("%w: remove the <!DOCTYPE>/<!ENTITY> declaration; SAML metadata never needs one", ErrSPMetadataDTD)
	}
	if !utf8.Valid(data) {
		return nil, fmt.Errorf("%w: not valid UTF-8", ErrSPMetadataMalformed)
	}
	// Refuse documents whose meaning would change when re-serialised: the
	// namespace tricks behind several SAML signature bypasses.
	if err := xrv.Validate(bytes.NewReader(data)); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrSPMetadataMalformed, err)
	}
	doc, err := parseStrict(data)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrSPMetadataMalformed, err)
	}
	if hasDirective(doc) {
		return nil, fmt.Errorf("%w: remove the <!...> declaration", ErrSPMetadataDTD)
	}
	root := doc.Root()
	if root == nil {
		return nil, fmt.Errorf("%w: no root element", ErrSPMetadataMalformed)
	}

	signed, err := signedElement(root)
	if err != nil {
		return nil, err
	}
	status := SignatureUnsigned
	if len(children(signed, NamespaceDSig, "Signature")) > 0 {
		status = SignatureNotChecked
	}
	if opts.pinned() {
		verified, err := verifySPMetadataSignature(signed, opts)
		if err != nil {
			return nil, err
		}
		signed = verified
		status = SignatureVerified
	}

	entity, err := spEntity(signed)
	if err != nil {
		return nil, err
	}
	for _, el := range []*etree.Element{signed, entity} {
		if err := checkValidUntil(el, opts.now()); err != nil {
			return nil, err
		}
	}
	sp, err := readSPEntity(entity, opts.AllowHTTP)
	if err != nil {
		return nil, err
	}
	sp.SignatureStatus = status
	return sp, nil
}

// signedElement is the element whose signature vouches for the SP: the root
// EntityDescriptor, or for an EntitiesDescriptor either the wrapper (when it
// is signed) or its single EntityDescriptor.
func signedElement(root *etree.Element) (*etree.Element, error) {
	switch {
	case is(root, NamespaceMetadata, "EntityDescriptor"):
		return root, nil
	case is(root, NamespaceMetadata, "EntitiesDescriptor"):
		if len(children(root, NamespaceDSig, "Signature")) > 0 {
			return root, nil
		}
		entities := children(root, NamespaceMetadata, "EntityDescriptor")
		if len(entities) != 1 {
			return nil, fmt.Errorf("%w: the EntitiesDescriptor holds %d EntityDescriptors; give the metadata of exactly one SP", ErrSPMetadataInvalid, len(entities))
		}
		// Carry the wrapper's namespace declarations along.
		ctx, err := etreeutils.NSBuildParentContext(entities[0])
		if err != nil {
			return nil, fmt.Errorf("%w: %v", ErrSPMetadataMalformed, err)
		}
		detached, err := etreeutils.NSDetatch(ctx, entities[0])
		if err != nil {
			return nil, fmt.Errorf("%w: %v", ErrSPMetadataMalformed, err)
		}
		return detached, nil
	}
	return nil, fmt.Errorf("%w: the root element is <%s>, want md:EntityDescriptor in namespace %s", ErrSPMetadataInvalid, root.FullTag(), NamespaceMetadata)
}

// checkValidUntil refuses metadata past its validUntil: SAML metadata
// consumers must not use it (saml-metadata-2.0-os, 2.3.1).
func checkValidUntil(el *etree.Element, now time.Time) error {
	v, ok := attr(el, "validUntil")
	if !ok {
		return nil
	}
	until, err := time.Parse(time.RFC3339Nano, strings.TrimSpace(v))
	if err != nil {
		return fmt.Errorf("%w: validUntil %.40q is not an xs:dateTime", ErrSPMetadataInvalid, v)
	}
	if now.After(until) {
		return fmt.Errorf("%w: the metadata expired at %s (validUntil); fetch a current copy from the SP", ErrSPMetadataInvalid, until.UTC().Format(time.RFC3339))
	}
	return nil
}

// spEntity returns the EntityDescriptor inside el (or el itself).
func spEntity(el *etree.Element) (*etree.Element, error) {
	if is(el, NamespaceMetadata, "EntityDescriptor") {
		return el, nil
	}
	entities := children(el, NamespaceMetadata, "EntityDescriptor")
	if len(entities) != 1 {
		return nil, fmt.Errorf("%w: the EntitiesDescriptor holds %d EntityDescriptors; give the metadata of exactly one SP", ErrSPMetadataInvalid, len(entities))
	}
	return entities[0], nil
}

// Algorithms accepted on SP metadata signatures. A SHA-1 *digest* is accepted
// here and nowhere else because Huawei's metadata uses one (with an
// rsa-sha256 signature over SignedInfo) and the signer is pinned out of band.
var (
	metadataSignatureMethods = map[string]bool{
		dsig.RSASHA256SignatureMethod: true,
		dsig.RSASHA512SignatureMethod: true,
	}
	metadataDigestMethods = map[string]bool{
		"http://www.w3.org/2000/09/xmldsig#sha1":        true,
		"http://www.w3.org/2001/04/xmlenc#sha256":       true,
		"http://www.w3.org/2001/04/xmlenc#sha512":       true,
		"http://www.w3.org/2001/04/xmldsig-more#sha512": true,
	}
	metadataTransforms = map[string]bool{
		string(dsig.EnvelopedSignatureAltorithmId):      true,
		string(dsig.CanonicalXML10ExclusiveAlgorithmId): true,
	}
)

// verifySPMetadataSignature checks the enveloped signature of el against the
// pin and returns the verified element: the canonical bytes the signature
// covers, re-parsed, so nothing outside them can be read by mistake.
func verifySPMetadataSignature(el *etree.Element, opts SPLoadOptions) (*etree.Element, error) {
	sigs := children(el, NamespaceDSig, "Signature")
	switch len(sigs) {
	case 0:
		return nil, fmt.Errorf("%w: a signing certificate is pinned but the metadata is unsigned (download it without ?unsigned=true)", ErrSPMetadataSignature)
	case 1:
	default:
		return nil, fmt.Errorf("%w: %d Signature elements on <%s>; want one", ErrSPMetadataSignature, len(sigs), el.Tag)
	}
	if n := len(descendants(el, NamespaceDSig, "Signature")); n != 1 {
		return nil, fmt.Errorf("%w: %d Signature elements in the document; want only the one on <%s>", ErrSPMetadataSignature, n, el.Tag)
	}
	sig := sigs[0]
	if err := checkSignedInfo(el, sig); err != nil {
		return nil, err
	}
	pin, err := resolvePin(el, sig, opts)
	if err != nil {
		return nil, err
	}
	now := opts.now()
	if now.After(pin.NotAfter) || now.Before(pin.NotBefore) {
		return nil, fmt.Errorf("%w: the pinned certificate (%s) is valid only from %s to %s; pin the SP's current certificate",
			ErrSPMetadataSignature, FingerprintSHA256(pin), pin.NotBefore.UTC().Format(time.RFC3339), pin.NotAfter.UTC().Format(time.RFC3339))
	}

	// Verify with the pinned key alone: drop KeyInfo so goxmldsig cannot
	// prefer a certificate the document itself supplies.
	target := el.Copy()
	for _, s := range children(target, NamespaceDSig, "Signature") {
		for _, ki := range children(s, NamespaceDSig, "KeyInfo") {
			s.RemoveChild(ki)
		}
	}
	vctx := &dsig.ValidationContext{
		CertificateStore: &dsig.MemoryX509CertificateStore{Roots: []*x509.Certificate{pin}},
		IdAttribute:      "ID",
		Clock:            dsig.NewFakeClockAt(now),
	}
	verified, err := vctx.Validate(target)
	if err != nil {
		return nil, fmt.Errorf("%w: the signature does not verify with the pinned certificate %s (%v); the file was changed or is signed by another key",
			ErrSPMetadataSignature, FingerprintSHA256(pin), err)
	}
	return verified, nil
}

// checkSignedInfo allows only an enveloped signature over el itself with
// the algorithms above.
func checkSignedInfo(el, sig *etree.Element) error {
	fail := func(format string, a ...any) error {
		return fmt.Errorf("%w: "+format, append([]any{ErrSPMetadataSignature}, a...)...)
	}
	sis := children(sig, NamespaceDSig, "SignedInfo")
	if len(sis) != 1 {
		return fail("want one SignedInfo, found %d", len(sis))
	}
	si := sis[0]
	c14n := children(si, NamespaceDSig, "CanonicalizationMethod")
	if len(c14n) != 1 || attrValue(c14n[0], "Algorithm") != string(dsig.CanonicalXML10ExclusiveAlgorithmId) {
		return fail("CanonicalizationMethod must be exclusive c14n (%s)", dsig.CanonicalXML10ExclusiveAlgorithmId)
	}
	sm := children(si, NamespaceDSig, "SignatureMethod")
	if len(sm) != 1 || !metadataSignatureMethods[attrValue(sm[0], "Algorithm")] {
		alg := ""
		if len(sm) == 1 {
			alg = attrValue(sm[0], "Algorithm")
		}
		return fail("SignatureMethod %.100q not allowed (want rsa-sha256 or rsa-sha512)", alg)
	}
	refs := children(si, NamespaceDSig, "Reference")
	if len(refs) != 1 {
		return fail("want exactly one Reference, found %d", len(refs))
	}
	ref := refs[0]
	id := attrValue(el, "ID")
	if uri := attrValue(ref, "URI"); id == "" || uri != "#"+id {
		return fail("the Reference (URI %.100q) must point at the ID of <%s> (%.100q)", uri, el.Tag, id)
	}
	for _, ts := range children(ref, NamespaceDSig, "Transforms") {
		for _, t := range children(ts, NamespaceDSig, "Transform") {
			if !metadataTransforms[attrValue(t, "Algorithm")] {
				return fail("Transform %.100q not allowed (want enveloped-signature and exc-c14n)", attrValue(t, "Algorithm"))
			}
		}
	}
	dm := children(ref, NamespaceDSig, "DigestMethod")
	if len(dm) != 1 || !metadataDigestMethods[attrValue(dm[0], "Algorithm")] {
		return fail("DigestMethod not allowed (want sha1, sha256 or sha512)")
	}
	return nil
}

// resolvePin turns the configured pin into the one certificate to verify
// with. A fingerprint pin selects the matching certificate from the
// signature's KeyInfo or the signing KeyDescriptors.
func resolvePin(el, sig *etree.Element, opts SPLoadOptions) (*x509.Certificate, error) {
	want := ""
	if opts.PinnedFingerprint != "" {
		fp, err := ParseFingerprintSHA256(opts.PinnedFingerprint)
		if err != nil {
			return nil, fmt.Errorf("%w: %v", ErrSPMetadataPin, err)
		}
		want = fp
	}
	if opts.PinnedCert != nil {
		if want != "" && FingerprintSHA256(opts.PinnedCert) != want {
			return nil, fmt.Errorf("%w: the pinned certificate's fingerprint %s differs from the pinned fingerprint %s; configure one, or make them agree",
				ErrSPMetadataPin, FingerprintSHA256(opts.PinnedCert), want)
		}
		return opts.PinnedCert, nil
	}
	var candidates []*etree.Element
	candidates = append(candidates, descendants(sig, NamespaceDSig, "X509Certificate")...)
	for _, role := range children(el, NamespaceMetadata, "SPSSODescriptor") {
		for _, kd := range signingKeyDescriptors(role) {
			candidates = append(candidates, descendants(kd, NamespaceDSig, "X509Certificate")...)
		}
	}
	var seen []string
	for _, c := range candidates {
		cert, err := parseBase64Cert(c.Text())
		if err != nil {
			continue
		}
		fp := FingerprintSHA256(cert)
		if fp == want {
			return cert, nil
		}
		seen = append(seen, fp)
	}
	return nil, fmt.Errorf("%w: no certificate in the metadata has the pinned fingerprint %s (found: %s); check the pin against the SP's published fingerprint",
		ErrSPMetadataSignature, want, strings.Join(seen, ", "))
}

func signingKeyDescriptors(role *etree.Element) []*etree.Element {
	var out []*etree.Element
	for _, kd := range children(role, NamespaceMetadata, "KeyDescriptor") {
		if use, ok := attr(kd, "use"); !ok || use == "signing" {
			out = append(out, kd)
		}
	}
	return out
}

func parseBase64Cert(text string) (*x509.Certificate, error) {
	der, err := base64.StdEncoding.DecodeString(stripSpace(text))
	if err != nil {
		return nil, errors.New("certificate text is not base64")
	}
	return x509.ParseCertificate(der)
}

// readSPEntity reads what we trust from an SP's EntityDescriptor.
func readSPEntity(entity *etree.Element, allowHTTP bool) (*SP, error) {
	invalid := func(format string, a ...any) error {
		return fmt.Errorf("%w: "+format, append([]any{ErrSPMetadataInvalid}, a...)...)
	}
	sp := &SP{EntityID: strings.TrimSpace(attrValue(entity, "entityID"))}
	if sp.EntityID == "" {
		return nil, invalid("EntityDescriptor has no entityID")
	}
	roles := children(entity, NamespaceMetadata, "SPSSODescriptor")
	if len(roles) != 1 {
		return nil, invalid("want one SPSSODescriptor, found %d (is this IdP metadata?)", len(roles))
	}
	role := roles[0]
	if !strings.Contains(" "+attrValue(role, "protocolSupportEnumeration")+" ", " "+NamespaceProtocol+" ") {
		return nil, invalid("SPSSODescriptor does not list SAML 2.0 (%s) in protocolSupportEnumeration", NamespaceProtocol)
	}
	if v, ok := attr(role, "AuthnRequestsSigned"); ok {
		b, valid := xsBoolean(v)
		if !valid {
			return nil, invalid("AuthnRequestsSigned=%.20q is not a boolean", v)
		}
		sp.AuthnRequestsSigned = b
	}
	if v, ok := attr(role, "WantAssertionsSigned"); ok {
		b, valid := xsBoolean(v)
		if !valid {
			return nil, invalid("WantAssertionsSigned=%.20q is not a boolean", v)
		}
		sp.WantAssertionsSigned = b
	}

	for _, kd := range signingKeyDescriptors(role) {
		for _, c := range descendants(kd, NamespaceDSig, "X509Certificate") {
			cert, err := parseBase64Cert(c.Text())
			if err != nil {
				return nil, invalid("a signing KeyDescriptor certificate does not parse: %v", err)
			}
			sp.SigningCerts = append(sp.SigningCerts, cert)
		}
	}
	if len(sp.SigningCerts) == 0 {
		return nil, invalid("no signing certificate (KeyDescriptor use=\"signing\"); without it AuthnRequest signatures cannot be checked")
	}

	for i, el := range children(role, NamespaceMetadata, "AssertionConsumerService") {
		if attrValue(el, "Binding") != SAMLBindingHTTPPost {
			continue
		}
		ep, err := readEndpoint(el, allowHTTP)
		if err != nil {
			return nil, invalid("AssertionConsumerService #%d: %v", i+1, err)
		}
		idx, err := strconv.Atoi(strings.TrimSpace(attrValue(el, "index")))
		if err != nil || idx < 0 || idx > 65535 {
			return nil, invalid("AssertionConsumerService #%d: index %.20q is not an unsigned short", i+1, attrValue(el, "index"))
		}
		ep.Index = idx
		if v, ok := attr(el, "isDefault"); ok {
			b, valid := xsBoolean(v)
			if !valid {
				return nil, invalid("AssertionConsumerService #%d: isDefault=%.20q is not a boolean", i+1, v)
			}
			ep.IsDefault = b
		}
		sp.ACS = append(sp.ACS, ep)
	}
	if len(sp.ACS) == 0 {
		return nil, invalid("no AssertionConsumerService with binding %s", SAMLBindingHTTPPost)
	}
	sort.SliceStable(sp.ACS, func(i, j int) bool {
		a, b := sp.ACS[i], sp.ACS[j]
		if a.IsDefault != b.IsDefault {
			return a.IsDefault
		}
		return a.Index < b.Index
	})

	for i, el := range children(role, NamespaceMetadata, "SingleLogoutService") {
		ep, err := readEndpoint(el, allowHTTP)
		if err != nil {
			return nil, invalid("SingleLogoutService #%d: %v", i+1, err)
		}
		sp.SLO = append(sp.SLO, ep)
	}
	for _, el := range children(role, NamespaceMetadata, "NameIDFormat") {
		if f := strings.TrimSpace(el.Text()); f != "" {
			sp.NameIDFormats = append(sp.NameIDFormats, f)
		}
	}
	return sp, nil
}

func readEndpoint(el *etree.Element, allowHTTP bool) (Endpoint, error) {
	ep := Endpoint{
		SAMLBinding:      strings.TrimSpace(attrValue(el, "Binding")),
		Location:         strings.TrimSpace(attrValue(el, "Location")),
		ResponseLocation: strings.TrimSpace(attrValue(el, "ResponseLocation")),
	}
	if ep.SAMLBinding == "" {
		return ep, errors.New("no Binding")
	}
	if err := checkEndpointURL(ep.Location, allowHTTP); err != nil {
		return ep, fmt.Errorf("Location: %w", err)
	}
	if ep.ResponseLocation != "" {
		if err := checkEndpointURL(ep.ResponseLocation, allowHTTP); err != nil {
			return ep, fmt.Errorf("ResponseLocation: %w", err)
		}
	}
	return ep, nil
}

// checkEndpointURL requires an absolute https URL (http with allowHTTP).
func checkEndpointURL(raw string, allowHTTP bool) error {
	if raw == "" {
		return errors.New("missing URL")
	}
	u, err := url.Parse(raw)
	if err != nil {
		return fmt.Errorf("%.200q is not a URL", raw)
	}
	if !u.IsAbs() || u.Host == "" {
		return fmt.Errorf("%.200q is not an absolute URL", raw)
	}
	if u.User != nil {
		return fmt.Errorf("%.200q carries user info", u.Redacted())
	}
	return checkScheme(u, allowHTTP)
}
