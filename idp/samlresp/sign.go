package samlresp

import (
	"fmt"

	"github.com/beevik/etree"
	dsig "github.com/russellhaering/goxmldsig"
)

// signEnveloped adds an enveloped ds:Signature to el (RSA-SHA256, exc-c14n,
// SHA-256 digest, our certificate in KeyInfo, Reference URI "#<ID>"), placed
// right after el's Issuer as the SAML schema requires; goxmldsig alone would
// append it as the last child.
func (s *settings) signEnveloped(el *etree.Element) error {
	ctx, err := dsig.NewSigningContext(s.Key.Key, [][]byte{s.Key.Cert.Raw})
	if err != nil {
		return fmt.Errorf("samlresp: signing: %w", err)
	}
	ctx.Canonicalizer = dsig.MakeC14N10ExclusiveCanonicalizerWithPrefixList("")
	if err := ctx.SetSignatureMethod(dsig.RSASHA256SignatureMethod); err != nil {
		return fmt.Errorf("samlresp: signing: %w", err)
	}
	// goxmldsig's exclusive canonicalizer rewrites the element it digests, so
	// it gets a copy; el declares all its namespaces, so the copy's canonical
	// form is the one a verifier computes in place.
	sig, err := ctx.ConstructSignature(el.Copy(), true)
	if err != nil {
		return fmt.Errorf("samlresp: signing: %w", err)
	}
	issuer := el.SelectElement("Issuer")
	if issuer == nil {
		return fmt.Errorf("samlresp: signing: %s has no Issuer to place the signature after", el.Tag)
	}
	el.InsertChildAt(issuer.Index()+1, sig)
	return nil
}
