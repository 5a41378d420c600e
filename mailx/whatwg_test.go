package mailx

import (
	"go/ast"
	"go/parser"
	"go/token"
	"strconv"
	"testing"

	"golang.org/x/text/encoding/htmlindex"
)

// TestWHATWGLabels checks every label of whatwg's switch against
// golang.org/x/text/encoding/htmlindex: same encoding, same bytes out.
func TestWHATWGLabels(t *testing.T) {
	f, err := parser.ParseFile(token.NewFileSet(), "whatwg.go", nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	var labels []string
	ast.Inspect(f, func(n ast.Node) bool {
		if c, ok := n.(*ast.CaseClause); ok {
			for _, e := range c.List {
				s, err := strconv.Unquote(e.(*ast.BasicLit).Value)
				if err != nil {
					t.Fatal(err)
				}
				labels = append(labels, s)
			}
		}
		return true
	})
	// htmlindex v0.44.0 knows 228 labels; a table that lost some fails.
	if len(labels) < 228 {
		t.Fatalf("%d labels, want at least 228", len(labels))
	}
	sample := []byte("caf\xe9 \x82\xa0\x93\xfa\x96\x7b \x1b$B$3\x1b(B \xff\xfe\x00\x01")
	for _, l := range labels {
		want, err := htmlindex.Get(l)
		if err != nil {
			t.Errorf("%q: htmlindex does not know it: %v", l, err)
			continue
		}
		got := whatwg(l)
		if got == nil {
			t.Errorf("%q: whatwg returns nil", l)
			continue
		}
		gn, _ := htmlindex.Name(got)
		wn, _ := htmlindex.Name(want)
		if gn != wn {
			t.Errorf("%q: %s, htmlindex says %s", l, gn, wn)
		}
		g, _ := got.NewDecoder().Bytes(sample)
		w, _ := want.NewDecoder().Bytes(sample)
		if string(g) != string(w) {
			t.Errorf("%q: decodes to %q, htmlindex's to %q", l, g, w)
		}
	}
	if whatwg("no-such-charset") != nil {
		t.Error("an unknown label has an encoding")
	}
}
