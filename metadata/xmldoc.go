package metadata

import (
	"bytes"
	"strings"

	"github.com/beevik/etree"
)

// XML namespaces of SAML metadata and XML-DSig.
const (
	NamespaceMetadata = "urn:oasis:names:tc:SAML:2.0:metadata"
	NamespaceDSig     = "http://www.w3.org/2000/09/xmldsig#"
	NamespaceProtocol = "urn:oasis:names:tc:SAML:2.0:protocol"
)

// hasDTD reports a document type or entity declaration anywhere in the
// bytes. Metadata never needs one, and refusing them outright rules out
// entity-expansion tricks whatever the parser does with them.
func hasDTD(data []byte) bool {
	return bytes.Contains(data, []byte("<!DOCTYPE")) || bytes.Contains(data, []byte("<!ENTITY"))
}

// parseStrict reads a document with etree in strict mode.
func parseStrict(data []byte) (*etree.Document, error) {
	doc := etree.NewDocument()
	doc.ReadSettings = etree.ReadSettings{MaxDepth: 64}
	if err := doc.ReadFromBytes(data); err != nil {
		return nil, err
	}
	return doc, nil
}

// hasDirective reports any <!...> token the parser kept (a DOCTYPE spelled in
// a way the byte scan missed).
func hasDirective(doc *etree.Document) bool {
	for _, t := range doc.Child {
		if _, ok := t.(*etree.Directive); ok {
			return true
		}
	}
	return false
}

// is reports whether el is namespace:local.
func is(el *etree.Element, namespace, local string) bool {
	return el != nil && el.Tag == local && el.NamespaceURI() == namespace
}

// children returns the child elements of el named namespace:local.
func children(el *etree.Element, namespace, local string) []*etree.Element {
	var out []*etree.Element
	for _, c := range el.ChildElements() {
		if is(c, namespace, local) {
			out = append(out, c)
		}
	}
	return out
}

// descendants returns every element under el (el included) named
// namespace:local, in document order.
func descendants(el *etree.Element, namespace, local string) []*etree.Element {
	var out []*etree.Element
	var walk func(*etree.Element)
	walk = func(e *etree.Element) {
		if is(e, namespace, local) {
			out = append(out, e)
		}
		for _, c := range e.ChildElements() {
			walk(c)
		}
	}
	walk(el)
	return out
}

// xsBoolean reads an xs:boolean attribute value.
func xsBoolean(v string) (value, ok bool) {
	switch strings.TrimSpace(v) {
	case "true", "1":
		return true, true
	case "false", "0":
		return false, true
	}
	return false, false
}

// stripSpace removes all white space, which XML pretty-printers and Huawei
// put inside base64 text.
func stripSpace(s string) string {
	return strings.Map(func(r rune) rune {
		switch r {
		case ' ', '\t', '\r', '\n':
			return -1
		}
		return r
	}, s)
}

// attr returns the value of el's unprefixed attribute name, and whether it
// is present. (etree's SelectAttr would also match any prefixed one.)
func attr(el *etree.Element, name string) (string, bool) {
	for _, a := range el.Attr {
		if a.Space == "" && a.Key == name {
			return a.Value, true
		}
	}
	return "", false
}

func attrValue(el *etree.Element, name string) string {
	v, _ := attr(el, name)
	return v
}

// addEndpoint appends an endpoint element (SingleSignOnService,
// SingleLogoutService, AssertionConsumerService) to a role descriptor.
func addEndpoint(descriptor *etree.Element, tag, samlBinding, location string) *etree.Element {
	el := descriptor.CreateElement(tag)
	el.CreateAttr("Binding", samlBinding)
	el.CreateAttr("Location", location)
	return el
}

// addNameIDFormats appends one md:NameIDFormat per format; transient when
// none is configured.
func addNameIDFormats(descriptor *etree.Element, formats []string) {
	if len(formats) == 0 {
		formats = []string{NameIDFormatTransient}
	}
	for _, f := range formats {
		descriptor.CreateElement("md:NameIDFormat").SetText(f)
	}
}
