package demotrace

import (
	"fmt"
	"strings"

	"github.com/beevik/etree"
)

// Document is a decoded message, indented for reading, one line a row.
type Document struct {
	Lines      []Line
	Attributes []Attribute // a Response's attributes
	Assertion  string      // a Response's Assertion ID
}

// Line is one line of a Document; Highlight marks the attribute statement.
type Line struct {
	Text      string
	Highlight bool
}

// Attribute is one SAML attribute of a Response.
type Attribute struct {
	Name, FriendlyName string
	Values             []string
}

// longText are the elements whose base64 content is replaced by its length:
// public, but a wall of characters nobody reads.
var longText = map[string]bool{"SignatureValue": true, "X509Certificate": true}

// xmlDocument indents an XML message and marks its AttributeStatement.
// Text that does not parse is shown as it came.
func xmlDocument(msg string) *Document {
	if msg == "" {
		return nil
	}
	doc := etree.NewDocument()
	if err := doc.ReadFromString(msg); err != nil || doc.Root() == nil {
		return &Document{Lines: plainLines(msg)}
	}
	d := &Document{}
	var walk func(*etree.Element)
	walk = func(el *etree.Element) {
		if longText[el.Tag] {
			if n := len(strings.Join(strings.Fields(el.Text()), "")); n > 0 {
				el.SetText(fmt.Sprintf("… %d base64 characters …", n))
			}
		}
		switch el.Tag {
		case "Assertion":
			if d.Assertion == "" {
				d.Assertion = el.SelectAttrValue("ID", "")
			}
		case "Attribute":
			a := Attribute{Name: el.SelectAttrValue("Name", ""), FriendlyName: el.SelectAttrValue("FriendlyName", "")}
			for _, v := range el.ChildElements() {
				if v.Tag == "AttributeValue" {
					a.Values = append(a.Values, v.Text())
				}
			}
			d.Attributes = append(d.Attributes, a)
		}
		for _, c := range el.ChildElements() {
			walk(c)
		}
	}
	walk(doc.Root())
	doc.Indent(2)
	text, err := doc.WriteToString()
	if err != nil {
		return &Document{Lines: plainLines(msg)}
	}
	inside := false
	for _, l := range plainLines(text) {
		tag := strings.Contains(l.Text, "AttributeStatement")
		closes := tag && strings.HasPrefix(strings.TrimSpace(l.Text), "</")
		opens := tag && !closes
		if opens {
			inside = true
		}
		l.Highlight = inside || closes
		if closes {
			inside = false
		}
		d.Lines = append(d.Lines, l)
	}
	return d
}
