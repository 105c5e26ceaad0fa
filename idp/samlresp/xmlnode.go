package samlresp

import (
	"bytes"
	"sync"
	"unicode/utf8"
)

// The documents we send are built as a small tree of nodes and written out
// twice where needed: as the document (the bytes etree wrote before, so the
// golden files and every verifier see the same XML) and in exclusive XML
// canonicalization (exc-c14n, no comments, no InclusiveNamespaces), the form
// the signature digests. Building the canonical bytes directly replaces a
// round trip through etree and goxmldsig's canonicalizer, which copied the
// tree, rewrote its namespaces and serialised it again for every signature.
//
// The tree is deliberately narrow: every element name is prefixed, namespace
// declarations are attributes named xmlns:<prefix>, and an element has either
// text or children. Values have passed checkText (no control characters, no
// invalid UTF-8), so the two escapings never disagree about what a parser
// will read back.

// node is one element. Children are a linked list, so building a document
// does not grow slices.
type node struct {
	name        string // qualified: "saml2:Assertion"
	attrs       []xattr
	text        string
	first, last *node // children
	next        *node // sibling
}

// xattr is an attribute in document order; "xmlns:p" declares prefix p.
type xattr struct{ name, value string }

// tree allocates one document's nodes and attributes from two slabs: a
// Response is some 50 elements, and one allocation each was a third of the
// allocations of a whole SSO request.
type tree struct {
	nodes []node
	attrs []xattr
}

// trees are reused: a tree is some 6 KB, and nothing refers to it once
// its document is written out.
var trees = sync.Pool{New: func() any {
	return &tree{nodes: make([]node, 0, 56), attrs: make([]xattr, 0, 56)}
}}

func newTree() *tree { return trees.Get().(*tree) }

// release clears t (so the pool holds no values of past documents) and
// returns it to the pool.
func (t *tree) release() {
	clear(t.nodes)
	clear(t.attrs)
	t.nodes, t.attrs = t.nodes[:0], t.attrs[:0]
	trees.Put(t)
}

// el makes an element with attributes in document order (copied).
func (t *tree) el(name string, attrs ...xattr) *node {
	var n *node
	if len(t.nodes) < cap(t.nodes) {
		t.nodes = t.nodes[:len(t.nodes)+1]
		n = &t.nodes[len(t.nodes)-1]
	} else {
		n = new(node)
	}
	n.name = name
	if len(attrs) > 0 {
		start := len(t.attrs)
		t.attrs = append(t.attrs, attrs...)
		n.attrs = t.attrs[start:len(t.attrs):len(t.attrs)]
	}
	return n
}

// add appends child elements and returns n.
func (n *node) add(kids ...*node) *node {
	for _, k := range kids {
		if n.last == nil {
			n.first = k
		} else {
			n.last.next = k
		}
		n.last = k
	}
	return n
}

// withText sets n's text and returns n.
func (n *node) withText(s string) *node {
	n.text = s
	return n
}

// insertAfter puts kid right after the first child named after.
func (n *node) insertAfter(after string, kid *node) bool {
	for c := n.first; c != nil; c = c.next {
		if c.name == after {
			kid.next = c.next
			c.next = kid
			if n.last == c {
				n.last = kid
			}
			return true
		}
	}
	return false
}

const xmlDecl = `<?xml version="1.0" encoding="UTF-8"?>`

// document is n as a whole document, as etree wrote it: the XML declaration,
// attributes in document order, empty elements self-closed.
func (n *node) document() []byte {
	bufp := scratch.Get().(*[]byte)
	defer scratch.Put(bufp)
	b := append((*bufp)[:0], xmlDecl...)
	b = n.write(b)
	*bufp = b
	return bytes.Clone(b)
}

func (n *node) write(b []byte) []byte {
	b = append(b, '<')
	b = append(b, n.name...)
	for _, a := range n.attrs {
		b = append(b, ' ')
		b = append(b, a.name...)
		b = append(b, '=', '"')
		b = escapeDoc(b, a.value)
		b = append(b, '"')
	}
	if n.text == "" && n.first == nil {
		return append(b, '/', '>')
	}
	b = append(b, '>')
	b = escapeDoc(b, n.text)
	for k := n.first; k != nil; k = k.next {
		b = k.write(b)
	}
	b = append(b, '<', '/')
	b = append(b, n.name...)
	return append(b, '>')
}

// escapeDoc escapes as etree does outside canonical mode: the five
// predefined entities, and U+FFFD for what XML cannot carry.
func escapeDoc(b []byte, s string) []byte {
	last := 0
	for i := 0; i < len(s); {
		c := s[i]
		width := 1
		var esc string
		switch {
		case c == '&':
			esc = "&amp;"
		case c == '<':
			esc = "&lt;"
		case c == '>':
			esc = "&gt;"
		case c == '\'':
			esc = "&apos;"
		case c == '"':
			esc = "&quot;"
		case c < 0x20:
			if c != '\t' && c != '\n' && c != '\r' {
				esc = "\uFFFD"
			}
		case c >= utf8.RuneSelf:
			var r rune
			r, width = utf8.DecodeRuneInString(s[i:])
			if !inXMLCharRange(r) || (r == utf8.RuneError && width == 1) {
				esc = "\uFFFD"
			}
		}
		if esc != "" {
			b = append(b, s[last:i]...)
			b = append(b, esc...)
			last = i + width
		}
		i += width
	}
	return append(b, s[last:]...)
}

func inXMLCharRange(r rune) bool {
	return r == 0x09 || r == 0x0A || r == 0x0D ||
		r >= 0x20 && r <= 0xD7FF || r >= 0xE000 && r <= 0xFFFD || r >= 0x10000 && r <= 0x10FFFF
}

// nsBinding is a prefix bound to a namespace URI.
type nsBinding struct{ prefix, uri string }

func lookupNS(bs []nsBinding, prefix string) (string, bool) {
	for i := len(bs) - 1; i >= 0; i-- {
		if bs[i].prefix == prefix {
			return bs[i].uri, true
		}
	}
	return "", false
}

func prefixOf(qname string) (prefix, local string) {
	for i := 0; i < len(qname); i++ {
		if qname[i] == ':' {
			return qname[:i], qname[i+1:]
		}
	}
	return "", qname
}

// canonical appends the exclusive canonical form of n as an apex: inScope
// are the namespace declarations of n's ancestors (exc-c14n renders only the
// prefixes an element visibly uses, where an output ancestor has not already
// rendered the same binding).
func (n *node) canonical(b []byte, inScope []nsBinding) []byte {
	return n.c14n(b, inScope, nil)
}

func (n *node) c14n(b []byte, scope, rendered []nsBinding) []byte {
	// This element's declarations join the scope (copy-on-append: the
	// caller's slices are shared with siblings).
	for _, a := range n.attrs {
		if p, ok := cutXMLNS(a.name); ok {
			scope = append(scope[:len(scope):len(scope)], nsBinding{p, a.value})
		}
	}
	// Visibly utilised prefixes: the element's and its attributes'.
	var usedArr [8]string
	used := usedArr[:0]
	use := func(p string) {
		if p == "" || p == "xml" {
			return
		}
		for _, u := range used {
			if u == p {
				return
			}
		}
		used = append(used, p)
	}
	ep, _ := prefixOf(n.name)
	use(ep)
	var attrsArr [8]xattr
	attrs := attrsArr[:0]
	for _, a := range n.attrs {
		if _, ok := cutXMLNS(a.name); ok {
			continue
		}
		ap, _ := prefixOf(a.name)
		use(ap)
		attrs = append(attrs, a)
	}
	sortStrings(used)

	b = append(b, '<')
	b = append(b, n.name...)
	for _, p := range used {
		uri, _ := lookupNS(scope, p)
		if have, ok := lookupNS(rendered, p); ok && have == uri {
			continue
		}
		rendered = append(rendered[:len(rendered):len(rendered)], nsBinding{p, uri})
		b = append(b, " xmlns:"...)
		b = append(b, p...)
		b = append(b, '=', '"')
		b = escapeC14NAttr(b, uri)
		b = append(b, '"')
	}
	// Attributes by namespace URI, then local name; unqualified first.
	sortAttrs(attrs, scope)
	for _, a := range attrs {
		b = append(b, ' ')
		b = append(b, a.name...)
		b = append(b, '=', '"')
		b = escapeC14NAttr(b, a.value)
		b = append(b, '"')
	}
	b = append(b, '>')
	b = escapeC14NText(b, n.text)
	for k := n.first; k != nil; k = k.next {
		b = k.c14n(b, scope, rendered)
	}
	b = append(b, '<', '/')
	b = append(b, n.name...)
	return append(b, '>')
}

func cutXMLNS(name string) (string, bool) {
	if len(name) > 6 && name[:6] == "xmlns:" {
		return name[6:], true
	}
	return "", false
}

func sortStrings(s []string) {
	for i := 1; i < len(s); i++ {
		for j := i; j > 0 && s[j] < s[j-1]; j-- {
			s[j], s[j-1] = s[j-1], s[j]
		}
	}
}

func sortAttrs(as []xattr, scope []nsBinding) {
	key := func(a xattr) (string, string) {
		p, local := prefixOf(a.name)
		if p == "" {
			return "", local
		}
		uri, _ := lookupNS(scope, p)
		return uri, local
	}
	less := func(x, y xattr) bool {
		xu, xl := key(x)
		yu, yl := key(y)
		if xu != yu {
			return xu < yu
		}
		return xl < yl
	}
	for i := 1; i < len(as); i++ {
		for j := i; j > 0 && less(as[j], as[j-1]); j-- {
			as[j], as[j-1] = as[j-1], as[j]
		}
	}
}

// escapeC14NText and escapeC14NAttr escape as C14N 1.0 §5.3 says (text:
// & < > CR; attributes: & < " TAB LF CR).
func escapeC14NText(b []byte, s string) []byte {
	last := 0
	for i := 0; i < len(s); i++ {
		var esc string
		switch s[i] {
		case '&':
			esc = "&amp;"
		case '<':
			esc = "&lt;"
		case '>':
			esc = "&gt;"
		case '\r':
			esc = "&#xD;"
		default:
			continue
		}
		b = append(b, s[last:i]...)
		b = append(b, esc...)
		last = i + 1
	}
	return append(b, s[last:]...)
}

func escapeC14NAttr(b []byte, s string) []byte {
	last := 0
	for i := 0; i < len(s); i++ {
		var esc string
		switch s[i] {
		case '&':
			esc = "&amp;"
		case '<':
			esc = "&lt;"
		case '"':
			esc = "&quot;"
		case '\t':
			esc = "&#x9;"
		case '\n':
			esc = "&#xA;"
		case '\r':
			esc = "&#xD;"
		default:
			continue
		}
		b = append(b, s[last:i]...)
		b = append(b, esc...)
		last = i + 1
	}
	return append(b, s[last:]...)
}
