package metadata

import (
	"crypto"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"net/url"
	"strings"

	"github.com/beevik/etree"
	dsig "github.com/russellhaering/goxmldsig"
)

// ErrSPConfig is returned by BuildSPMetadata for an unusable SPConfig.
var ErrSPConfig = errors.New("SP metadata configuration is invalid")

// SPConfig describes the SP metadata BuildSPMetadata makes: the mock Huawei
// IAM and tests use it to stand in for Huawei.
type SPConfig struct {
	EntityID       string
	ACSURL         string   // HTTP-POST, index 0, isDefault
	SLORedirectURL string   // optional
	SLOPostURL     string   // optional
	NameIDFormats  []string // default: transient
}

// BuildSPMetadata makes SP metadata shaped like Huawei's, signed enveloped
// with key (rsa-sha256, sha256 digest, exc-c14n). The output is
// deterministic for the same inputs.
func BuildSPMetadata(cfg SPConfig, key SigningKey) ([]byte, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	if key.Key == nil || key.Cert == nil {
		return nil, fmt.Errorf("%w: a signing key and its certificate are required", ErrSPConfig)
	}
	pub, ok := key.Cert.PublicKey.(*rsa.PublicKey)
	if !ok || pub.N.Cmp(key.Key.N) != 0 || pub.E != key.Key.E {
		return nil, fmt.Errorf("%w: %v", ErrSPConfig, ErrKeyMismatch)
	}

	certB64 := base64.StdEncoding.EncodeToString(key.Cert.Raw)
	ed := etree.NewElement("md:EntityDescriptor")
	ed.CreateAttr("xmlns:md", NamespaceMetadata)
	ed.CreateAttr("ID", spMetadataID(cfg, key))
	ed.CreateAttr("entityID", cfg.EntityID)

	sso := ed.CreateElement("md:SPSSODescriptor")
	sso.CreateAttr("AuthnRequestsSigned", "true")
	sso.CreateAttr("WantAssertionsSigned", "true")
	sso.CreateAttr("protocolSupportEnumeration", NamespaceProtocol)
	for _, use := range []string{"signing", "encryption"} {
		kd := sso.CreateElement("md:KeyDescriptor")
		kd.CreateAttr("use", use)
		addKeyInfo(kd, certB64)
	}
	if cfg.SLORedirectURL != "" {
		addEndpoint(sso, "md:SingleLogoutService", SAMLBindingHTTPRedirect, cfg.SLORedirectURL)
	}
	if cfg.SLOPostURL != "" {
		addEndpoint(sso, "md:SingleLogoutService", SAMLBindingHTTPPost, cfg.SLOPostURL)
	}
	addNameIDFormats(sso, cfg.NameIDFormats)
	acs := addEndpoint(sso, "md:AssertionConsumerService", SAMLBindingHTTPPost, cfg.ACSURL)
	acs.CreateAttr("index", "0")
	acs.CreateAttr("isDefault", "true")

	signed, err := signEnveloped(ed, key)
	if err != nil {
		return nil, err
	}
	doc := etree.NewDocument()
	doc.CreateProcInst("xml", `version="1.0" encoding="UTF-8"`)
	doc.SetRoot(signed)
	out, err := doc.WriteToBytes()
	if err != nil {
		return nil, fmt.Errorf("serialise SP metadata: %w", err)
	}
	return out, nil
}

func (cfg SPConfig) validate() error {
	var problems []string
	if strings.TrimSpace(cfg.EntityID) == "" {
		problems = append(problems, "EntityID is empty")
	}
	check := func(name, v string, required bool) {
		if v == "" {
			if required {
				problems = append(problems, name+" is empty")
			}
			return
		}
		u, err := url.Parse(v)
		if err != nil || !u.IsAbs() || u.Host == "" || (u.Scheme != "https" && u.Scheme != "http") {
			problems = append(problems, fmt.Sprintf("%s %.200q is not an absolute http(s) URL", name, v))
		}
	}
	check("ACSURL", cfg.ACSURL, true)
	check("SLORedirectURL", cfg.SLORedirectURL, false)
	check("SLOPostURL", cfg.SLOPostURL, false)
	if len(problems) > 0 {
		return fmt.Errorf("%w: %s", ErrSPConfig, strings.Join(problems, "; "))
	}
	return nil
}

// spMetadataID derives the document ID from its content, so the same inputs
// give the same bytes (RSA PKCS#1 v1.5 signatures are deterministic too).
func spMetadataID(cfg SPConfig, key SigningKey) string {
	h := sha256.New()
	for _, s := range []string{cfg.EntityID, cfg.ACSURL, cfg.SLORedirectURL, cfg.SLOPostURL, strings.Join(cfg.NameIDFormats, " ")} {
		h.Write([]byte(s))
		h.Write([]byte{0})
	}
	h.Write(key.Cert.Raw)
	return "_" + hex.EncodeToString(h.Sum(nil)[:16])
}

func addKeyInfo(parent *etree.Element, certB64 string) {
	ki := parent.CreateElement("ds:KeyInfo")
	ki.CreateAttr("xmlns:ds", NamespaceDSig)
	ki.CreateElement("ds:X509Data").CreateElement("ds:X509Certificate").SetText(certB64)
}

// signEnveloped signs el (which must carry an ID attribute) and places the
// Signature first among its children, where the metadata schema wants it.
func signEnveloped(el *etree.Element, key SigningKey) (*etree.Element, error) {
	ctx, err := dsig.NewSigningContext(key.Key, [][]byte{key.Cert.Raw})
	if err != nil {
		return nil, fmt.Errorf("signing context: %w", err)
	}
	ctx.Hash = crypto.SHA256
	ctx.IdAttribute = "ID"
	ctx.Prefix = "ds"
	ctx.Canonicalizer = dsig.MakeC14N10ExclusiveCanonicalizerWithPrefixList("")
	if err := ctx.SetSignatureMethod(dsig.RSASHA256SignatureMethod); err != nil {
		return nil, fmt.Errorf("signing context: %w", err)
	}
	sig, err := ctx.ConstructSignature(el, true)
	if err != nil {
		return nil, fmt.Errorf("sign metadata: %w", err)
	}
	signed := el.Copy()
	signed.InsertChildAt(0, sig)
	return signed, nil
}
