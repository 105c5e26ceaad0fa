package mockiam

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/beevik/etree"
	xrv "github.com/mattermost/xml-roundtrip-validator"
)

// SAML and XML-DSig namespaces and URIs the mock reads.
const (
	nsProtocol  = "urn:oasis:names:tc:SAML:2.0:protocol"
	nsAssertion = "urn:oasis:names:tc:SAML:2.0:assertion"
	nsMetadata  = "urn:oasis:names:tc:SAML:2.0:metadata"
	nsDSig      = "http://www.w3.org/2000/09/xmldsig#"

	statusSuccess      = "urn:oasis:names:tc:SAML:2.0:status:Success"
	cmBearer           = "urn:oasis:names:tc:SAML:2.0:cm:bearer"
	nameIDFormatEntity = "urn:oasis:names:tc:SAML:2.0:nameid-format:entity"
)

// errUnsafeXML is wrapped by parseUntrustedXML for every XML it will not read.
var errUnsafeXML = errors.New("unsafe or malformed XML")

// parseUntrustedXML reads XML from outside: UTF-8 only, no DTD or other
// directive, no duplicate attributes, and stable under an encode/decode round
// trip (the mattermost check against namespace-confusion attacks).
func parseUntrustedXML(raw []byte) (*etree.Document, error) {
	if hasDirectiveBytes(raw) {
		return nil, fmt.Errorf("%w: a DTD or other <!...> directive is not allowed", errUnsafeXML)
	}
	if err := xrv.Validate(bytes.NewReader(raw)); err != nil {
		return nil, fmt.Errorf("%w: the XML is not well-formed or does not survive a parse round trip", errUnsafeXML)
	}
	doc := etree.NewDocument()
	doc.ReadSettings = etree.ReadSettings{
		CharsetReader:          utf8Only,
		PreserveDuplicateAttrs: true,
		MaxDepth:               64,
	}
	if err := doc.ReadFromBytes(raw); err != nil {
		return nil, fmt.Errorf("%w: %s", errUnsafeXML, oneLine(err.Error()))
	}
	if doc.Root() == nil {
		return nil, fmt.Errorf("%w: no root element", errUnsafeXML)
	}
	if err := checkTokens(&doc.Element); err != nil {
		return nil, err
	}
	return doc, nil
}

// hasDirectiveBytes looks for "<!" outside CDATA and comments; both are
// harmless, a DOCTYPE or ENTITY is not.
func hasDirectiveBytes(raw []byte) bool {
	for i := 0; ; {
		j := bytes.Index(raw[i:], []byte("<!"))
		if j < 0 {
			return false
		}
		rest := raw[i+j:]
		if !bytes.HasPrefix(rest, []byte("<!--")) && !bytes.HasPrefix(rest, []byte("<![CDATA[")) {
			return true
		}
		i += j + 2
	}
}

func checkTokens(el *etree.Element) error {
	for _, tok := range el.Child {
		switch t := tok.(type) {
		case *etree.Directive:
			return fmt.Errorf("%w: a DTD or other <!...> directive is not allowed", errUnsafeXML)
		case *etree.Element:
			seen := make(map[string]bool, len(t.Attr))
			for _, a := range t.Attr {
				k := a.Space + ":" + a.Key
				if seen[k] {
					return fmt.Errorf("%w: element <%s> repeats attribute %q", errUnsafeXML, t.Tag, a.Key)
				}
				seen[k] = true
			}
			if err := checkTokens(t); err != nil {
				return err
			}
		}
	}
	return nil
}

func utf8Only(charset string, input io.Reader) (io.Reader, error) {
	switch strings.ToLower(charset) {
	case "utf-8", "utf8":
		return input, nil
	}
	return nil, fmt.Errorf("encoding %q is not allowed: use UTF-8", charset)
}

// is reports whether el is the element {ns}local.
func is(el *etree.Element, ns, local string) bool {
	return el != nil && el.Tag == local && el.NamespaceURI() == ns
}

// children returns the direct child elements named {ns}local.
func children(el *etree.Element, ns, local string) []*etree.Element {
	var out []*etree.Element
	for _, c := range el.ChildElements() {
		if is(c, ns, local) {
			out = append(out, c)
		}
	}
	return out
}

// child returns the only direct child {ns}local, nil when there is none, and
// an error when there are several.
func child(el *etree.Element, ns, local string) (*etree.Element, error) {
	cs := children(el, ns, local)
	switch len(cs) {
	case 0:
		return nil, nil
	case 1:
		return cs[0], nil
	}
	return nil, fmt.Errorf("<%s> has %d <%s> children; one is allowed", el.Tag, len(cs), local)
}

// descendants returns every element {ns}local below el, el excluded.
func descendants(el *etree.Element, ns, local string) []*etree.Element {
	var out []*etree.Element
	for _, c := range el.ChildElements() {
		if is(c, ns, local) {
			out = append(out, c)
		}
		out = append(out, descendants(c, ns, local)...)
	}
	return out
}

// attr returns an attribute without a namespace prefix.
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

// samlTime parses an xs:dateTime the way SAML requires it: UTC, marked Z.
func samlTime(v string) (time.Time, error) {
	if !strings.HasSuffix(v, "Z") {
		return time.Time{}, fmt.Errorf("time %.40q is not UTC (SAML times end in Z)", v)
	}
	t, err := time.Parse(time.RFC3339Nano, v)
	if err != nil {
		return time.Time{}, fmt.Errorf("time %.40q is not an xs:dateTime", v)
	}
	return t, nil
}

// samlInstant formats t like OpenSAML does: UTC with milliseconds.
func samlInstant(t time.Time) string {
	return t.UTC().Format("2006-01-02T15:04:05.000Z")
}

func stripSpace(s string) string {
	return strings.Map(func(r rune) rune {
		switch r {
		case ' ', '\t', '\r', '\n':
			return -1
		}
		return r
	}, s)
}

// oneLine keeps an error text short and on one line for pages and logs.
func oneLine(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	if len(s) > 200 {
		s = s[:200] + "…"
	}
	return s
}
