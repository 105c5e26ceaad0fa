package samlresp

import (
	"testing"

	"github.com/beevik/etree"
)

// TestDocumentMatchesEtree: the document form is byte for byte what etree
// wrote for the same element, for text and attribute values with every
// character class the escaping distinguishes.
func TestDocumentMatchesEtree(t *testing.T) {
	values := []string{
		"", "plain", `<"Zhang" & 'San'>`, "ü 中文 🙂", "tab\tlf\ncr\r", "nul\x00bell\x07",
		"bad utf8 \xff\xfe end", "nonchar \uFFFE\uFFFF", "\u007f\u0085", "a]]>b",
	}
	for _, v := range values {
		e := etree.NewElement("saml2:X")
		e.CreateAttr("A", v)
		if v != "" {
			e.SetText(v)
		}
		doc := etree.NewDocument()
		doc.CreateProcInst("xml", `version="1.0" encoding="UTF-8"`)
		doc.SetRoot(e)
		want, err := doc.WriteToString()
		if err != nil {
			t.Fatal(err)
		}
		tr := newTree()
		got := string(tr.el("saml2:X", xattr{"A", v}).withText(v).document())
		if got != want {
			t.Errorf("value %q:\ngot  %s\nwant %s", v, got, want)
		}
	}
}
