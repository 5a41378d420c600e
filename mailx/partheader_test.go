package mailx

import (
	"bytes"
	"errors"
	"io"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/emersion/go-message/textproto"
)

// randomMultipart is a multipart body with boundary "b" made to trip a
// reader of it: CRLF and LF lines mixed, delimiter lines that are and
// are not ones ("--bx", "--b  ", "--b--"), continuation lines, long
// lines, headers of random sizes, and a body cut anywhere; with
// malformed, header lines the multipart reader refuses too.
func randomMultipart(r *rand.Rand, malformed bool) []byte {
	nls := []string{"\r\n", "\n"}
	nl := nls[r.IntN(2)]
	pick := func(s ...string) string { return s[r.IntN(len(s))] }
	var b strings.Builder
	if r.IntN(2) == 0 {
		b.WriteString(pick("preamble", "--bx", "--b--", "", " ") + nl)
	}
	for range r.IntN(5) {
		b.WriteString("--b" + pick("", "", " ", "\t ") + pick(nl, nl, nl, "\r\n", "\n"))
		for j := range r.IntN(30) {
			switch r.IntN(6) {
			case 0:
				if j == 0 && !malformed {
					continue
				}
				b.WriteString(pick(" ", "\t") + strings.Repeat("c", r.IntN(100)) + pick(nl, "\n"))
			case 1:
				b.WriteString("X-Long: " + strings.Repeat("l", 60000+r.IntN(20000)) + nl)
			case 2:
				if malformed {
					b.WriteString(pick("odd line", "--b", "Content-Type: text/plain") + nl)
				}
			default:
				b.WriteString("X-F: " + strings.Repeat("f", r.IntN(200)) + nl)
			}
		}
		b.WriteString(pick(nl, nl, nl, "\n"))
		for range r.IntN(10) {
			b.WriteString(pick("text", "--b", "--bx", "--b-", "x--b", "", "\r", strings.Repeat("y", 70000), "--b ") + pick(nl, nl, "\n", "\r\n", ""))
		}
		b.WriteString(nl)
	}
	b.WriteString(pick("--b--", "--b--"+nl, "--b-- ", "", "--b"+nl) + pick("epilogue", ""))
	s := b.String()
	if r.IntN(5) == 0 {
		s = s[:r.IntN(len(s)+1)]
	}
	return []byte(s)
}

// readParts reads a multipart as walkEntity does: each part's header
// fields and body, and how the reading ended.
func readParts(t *testing.T, r io.Reader) (headers [][]string, bodies []string, end string) {
	t.Helper()
	mr := textproto.NewMultipartReader(r, "b")
	for {
		p, err := mr.NextPart()
		if err != nil {
			if errors.Is(err, io.EOF) {
				return headers, bodies, "EOF"
			}
			return headers, bodies, "error: " + err.Error()[:min(len(err.Error()), 200)]
		}
		var fields []string
		for f := p.Header.Fields(); f.Next(); {
			raw, _ := f.Raw()
			fields = append(fields, string(raw))
		}
		body, _ := io.ReadAll(p)
		headers = append(headers, fields)
		bodies = append(bodies, string(body))
	}
}

// Below the limit the output of partHeaderCut is its input; above it,
// the multipart reader finds the same parts with the same bodies, each
// header its first fields, and a cut recorded for each header cut.
func TestPartHeaderCut(t *testing.T) {
	r := rand.New(rand.NewPCG(9, 9))
	cuts, parts := 0, 0
	for i := range 700 {
		data := randomMultipart(r, true)
		c := newPartHeaderCut(bytes.NewReader(data), "b", 1<<30)
		got, err := io.ReadAll(&pieces{r: c, rnd: r})
		if err != nil || !bytes.Equal(got, data) {
			d := firstDiff(got, data)
			t.Fatalf("case %d: %v; output (%d bytes) differs from input (%d) at %d: %q, want %q", i, err, len(got), len(data), d, got[max(0, d-30):min(len(got), d+30)], data[max(0, d-30):min(len(data), d+30)])
		}
		if len(c.cuts) != 0 {
			t.Fatalf("case %d: cuts %v below the limit", i, c.cuts)
		}
		// A field past the limit is dropped, a malformed one too:
		// what the reader finds is compared with inputs where
		// every field is well formed.
		data = randomMultipart(r, false)
		limit := r.IntN(1500)
		c = newPartHeaderCut(bytes.NewReader(data), "b", limit)
		wh, wb, wend := readParts(t, bytes.NewReader(data))
		gh, gb, gend := readParts(t, c)
		if strings.HasPrefix(wend, "error: message: malformed") && len(c.cuts) > 0 && len(gb) > len(wb) {
			// A malformed line past the limit is dropped with the
			// fields around it, and no longer ends the reading.
			gb, gh, gend = gb[:len(wb)], gh[:len(wb)], wend
		}
		if wend != gend || len(gb) != len(wb) {
			t.Fatalf("case %d, limit %d: %d parts, %s; want %d, %s; input %q", i, limit, len(gb), gend, len(wb), wend, data)
		}
		for k := range wb {
			if gb[k] != wb[k] {
				t.Fatalf("case %d part %d: body %q, want %q", i, k+1, gb[k], wb[k])
			}
			pc, cut := c.cut(k + 1)
			parts++
			if cut {
				cuts++
			}
			if len(gh[k]) > len(wh[k]) || strings.Join(gh[k], "") != strings.Join(wh[k][:len(gh[k])], "") {
				t.Fatalf("case %d part %d: header %q, not the first fields of %q", i, k+1, gh[k], wh[k])
			}
			if !cut && len(gh[k]) != len(wh[k]) || cut && (pc.dropped <= 0 || pc.size-pc.dropped > int64(limit)) {
				t.Fatalf("case %d part %d, limit %d: header %q of %q, cut %v %v", i, k+1, limit, gh[k], wh[k], cut, pc)
			}
		}
	}
	t.Logf("%d of %d parts cut", cuts, parts)
}
