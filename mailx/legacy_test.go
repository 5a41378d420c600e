package mailx

import (
	"bytes"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"mime"
	"mime/quotedprintable"
	"strings"
	"testing"

	"github.com/emersion/go-message"
	"github.com/emersion/go-message/textproto"
)

// The body display as it was before messages were read as streams: the
// whole message in memory, every part read whole before it is shown,
// charsets converted whole; and, as it is since, a text in an unknown
// charset that is not all UTF-8 shown as its bytes are, after a note,
// and a text in an unknown transfer encoding shown as stored, after a
// note, the parts after either shown too; and a base64 or
// quoted-printable text that does not decode to its end shown as far as
// it does (cteReader, which FuzzCTEReader checks against the standard
// library), then a note and the rest as stored. It is the oracle that
// renderBody is checked against.

func legacyCharsetReader(charset string, r io.Reader) (io.Reader, error) {
	b, err := io.ReadAll(r)
	if err != nil {
		return nil, err
	}
	s, ok := convert(charset, b)
	if !ok {
		return nil, &unknownCharset{charset: charset, text: bytes.NewReader(b)}
	}
	return strings.NewReader(s), nil
}

// legacyUnknown gives e the bytes that err holds, as unknownText does,
// and the note that comes before them.
func legacyUnknown(e *message.Entity, err error) string {
	var u *unknownCharset
	if errors.As(err, &u) {
		e.Body = u.text
		_, params, _ := e.Header.ContentType()
		return fmt.Sprintf("[-- unknown charset %s: shown as it is, bytes that are not UTF-8 replaced --]\n", printable(params["charset"]))
	}
	return ""
}

// legacyStored gives the entity with header h and body as stored when
// h names a Content-Transfer-Encoding that go-message does not decode:
// not decoded, its charset converted, with the notes of the encoding
// and, if the charset is unknown too, of the charset. Else nil, "".
func legacyStored(h message.Header, body io.Reader) (*message.Entity, string) {
	note, ok := legacyEncodingNote(h)
	if !ok {
		return nil, ""
	}
	plain := message.Header{Header: h.Header.Copy()}
	plain.Del("Content-Transfer-Encoding")
	p, err := message.New(plain, body)
	note += legacyUnknown(p, err)
	p.Header = h
	return p, note
}

func legacyEncodingNote(h message.Header) (string, bool) {
	n := legacyEncoding(h)
	return n, n != ""
}

// legacyEncoding gives the note for an entity with header h in a
// Content-Transfer-Encoding that go-message does not decode, else "".
func legacyEncoding(h message.Header) string {
	mt, _, _ := h.ContentType()
	enc := h.Get("Content-Transfer-Encoding")
	switch strings.ToLower(enc) {
	case "", "7bit", "8bit", "binary", "base64", "quoted-printable":
		return ""
	}
	if strings.HasPrefix(mt, "multipart/") {
		return ""
	}
	return "[-- unknown transfer encoding " + printable(enc) + ": shown as stored --]\n"
}

func legacyRenderBody(w *bytes.Buffer, raw []byte, keep func(string) bool) {
	saved := message.CharsetReader
	message.CharsetReader = legacyCharsetReader
	defer func() { message.CharsetReader = saved }()
	legacyMessage(w, raw, "1", keep, 0, false)
}

// legacyMessage writes the body of the message raw as entity path, at
// depth levels within the message shown; nested: it is enclosed in
// another, where a body shown as stored ends with a newline.
func legacyMessage(w *bytes.Buffer, raw []byte, path string, keep func(string) bool, depth int, nested bool) {
	e, dec, err := readEntity(bytes.NewReader(raw))
	if e == nil {
		_, body := splitMessage(raw)
		w.WriteString(oldDisplayText(body))
		if nested && len(body) > 0 && body[len(body)-1] != '\n' {
			w.WriteByte('\n')
		}
		return
	}
	if _, ok := legacyEncodingNote(e.Header); ok {
		_, body := splitMessage(raw)
		p, note := legacyStored(e.Header, bytes.NewReader(body))
		legacyWalk(w, p, path, true, note, nil, keep, depth)
		return
	}
	note := legacyUnknown(e, err)
	legacyWalk(w, e, path, true, note, legacyRest(e, dec), keep, depth)
}

// legacyBroken is the note and the rest as stored of a base64 or
// quoted-printable text that does not decode to its end.
type legacyBroken struct {
	note string
	rest []byte
}

// legacyRest reads e's text whole, and then, if dec stopped decoding
// it, the rest as stored.
func legacyRest(e *message.Entity, dec *cteReader) *legacyBroken {
	data, _ := io.ReadAll(e.Body)
	e.Body = bytes.NewReader(data)
	if dec == nil || !dec.Broken() {
		return nil
	}
	rest, _ := io.ReadAll(dec.Rest())
	return &legacyBroken{note: dec.note(), rest: rest}
}

func legacyWalk(w *bytes.Buffer, e *message.Entity, path string, top bool, note string, broken *legacyBroken, keep func(string) bool, depth int) {
	if depth > maxDepth {
		data, _ := io.ReadAll(e.Body)
		mt, _, _ := e.Header.ContentType()
		if mt == "" {
			mt = "text/plain"
		}
		name := ""
		if _, p, err := e.Header.ContentDisposition(); err == nil && p["filename"] != "" {
			name = p["filename"]
		} else if _, p, err := e.Header.ContentType(); err == nil && p["name"] != "" {
			name = p["name"]
		}
		if name != "" {
			if d, err := new(mime.WordDecoder).DecodeHeader(name); err == nil {
				name = d
			}
			name = ", \"" + printable(name) + "\""
		}
		fmt.Fprintf(w, "[-- #%s %s, %d bytes%s: nested more than %d deep, not shown --]\n", path, printable(mt), len(data), name, maxDepth)
		return
	}
	mt, params, _ := e.Header.ContentType()
	if mt == "" {
		mt = "text/plain"
	}
	if e.MultipartReader() != nil {
		boundary := params["boundary"]
		if boundary == "" {
			b := lenientBoundary(e.Header.Get("Content-Type"))
			if b == "" {
				data, _ := io.ReadAll(e.Body)
				w.WriteString(oldDisplayText(data))
				if len(data) > 0 && data[len(data)-1] != '\n' {
					w.WriteByte('\n')
				}
				return
			}
			t, _, _ := strings.Cut(e.Header.Get("Content-Type"), ";")
			mt = strings.ToLower(strings.TrimSpace(t))
			e.Header.Set("Content-Type", mime.FormatMediaType(mt, map[string]string{"boundary": b}))
			fixed, _ := message.New(e.Header, e.Body)
			if fixed.MultipartReader() == nil {
				listPart(w, e, path)
				return
			}
			boundary = b
		}
		var parts []*message.Entity
		notes := map[*message.Entity]string{}
		rests := map[*message.Entity]*legacyBroken{}
		mr := textproto.NewMultipartReader(e.Body, boundary)
		for {
			tp, err := mr.NextPart()
			if err != nil {
				break
			}
			h := message.Header{Header: tp.Header}
			p, note := legacyStored(h, tp)
			var dec *cteReader
			if note == "" {
				p, dec, err = newEntity(h, tp)
				note = legacyUnknown(p, err)
			}
			if mt == "multipart/digest" && p.Header.Get("Content-Type") == "" {
				p.Header.Set("Content-Type", "message/rfc822")
			}
			notes[p] = note
			rests[p] = legacyRest(p, dec)
			parts = append(parts, p)
		}
		if mt == "multipart/alternative" {
			chosen := -1
			for i, p := range parts {
				if t, _, _ := p.Header.ContentType(); t == "text/plain" || t == "" {
					chosen = i
					break
				}
			}
			for i, p := range parts {
				sub := fmt.Sprintf("%s.%d", path, i+1)
				if i == chosen {
					legacyWalk(w, p, sub, false, notes[p], rests[p], keep, depth+1)
				} else {
					listPart(w, p, sub)
				}
			}
			return
		}
		for i, p := range parts {
			legacyWalk(w, p, fmt.Sprintf("%s.%d", path, i+1), false, notes[p], rests[p], keep, depth+1)
		}
		return
	}
	disp, _, _ := e.Header.ContentDisposition()
	if (mt == "message/rfc822" || mt == "message/global") && disp != "attachment" {
		// An enclosed message: a note, its header's fields that
		// keep accepts, an empty line, and its body as a message's.
		data, _ := io.ReadAll(e.Body)
		fmt.Fprintf(w, "[-- #%s %s --]\n", path, mt)
		w.WriteString(note)
		header, _ := splitMessage(data)
		oldWriteHeader(w, header, keep)
		w.WriteByte('\n')
		legacyMessage(w, data, path, keep, depth+1, true)
		legacyBrokenRest(w, broken)
		return
	}
	reports := map[string]bool{
		"message/delivery-status": true, "message/global-delivery-status": true,
		"message/disposition-notification": true, "message/global-disposition-notification": true,
		"text/rfc822-headers": true, "message/global-headers": true,
	}
	if (mt == "text/plain" || reports[mt]) && disp != "attachment" {
		data, err := io.ReadAll(e.Body)
		if !top {
			fmt.Fprintf(w, "[-- #%s %s --]\n", path, mt)
		}
		if err != nil && len(data) == 0 {
			fmt.Fprintf(w, "[-- cannot decode: %v --]\n", err)
			return
		}
		w.WriteString(note)
		w.WriteString(oldDisplayText(data))
		if len(data) > 0 && data[len(data)-1] != '\n' {
			w.WriteByte('\n')
		}
		legacyBrokenRest(w, broken)
		return
	}
	listPart(w, e, path)
}

// legacyBrokenRest writes the note and the rest as stored of a part
// that did not decode to its end.
func legacyBrokenRest(w *bytes.Buffer, broken *legacyBroken) {
	if broken != nil {
		w.WriteString(broken.note)
		rest := broken.rest
		w.WriteString(oldDisplayText(rest))
		if len(rest) > 0 && rest[len(rest)-1] != '\n' {
			w.WriteByte('\n')
		}
	}
}

// randomMIME makes a message of nested parts with every encoding and
// charset display knows, and some it does not, bodies of randomText,
// and the breakage real mail has: bad base64, missing final delimiters,
// boundaries missing or unquoted with '='.
func randomMIME(r *rand.Rand, depth int) string {
	types := []string{"text/plain", "text/plain", "text/html", "application/octet-stream", "", "TEXT/PLAIN", "image/png",
		"message/delivery-status", "text/rfc822-headers", "message/disposition-notification", "message/global-headers"}
	charsets := []string{"", "utf-8", "us-ascii", "utf8", "iso-8859-1", "windows-1252", "iso-8859-15", "shift_jis", "koi8-r", "iso-2022-jp", "x-nowhere", "UTF-8", "utf-7", "utf-16", "unknown-8bit"}
	var h strings.Builder
	if depth > 0 && r.IntN(3) == 0 {
		kinds := []string{"mixed", "alternative", "related", "report", "digest"}
		b := fmt.Sprintf("b%d=%d", depth, r.IntN(100))
		switch r.IntN(6) {
		case 0:
			fmt.Fprintf(&h, "Content-Type: multipart/%s\n", kinds[r.IntN(len(kinds))])
		case 1:
			fmt.Fprintf(&h, "Content-Type: multipart/%s; boundary=%s\n", kinds[r.IntN(len(kinds))], b)
		default:
			fmt.Fprintf(&h, "Content-Type: multipart/%s; boundary=\"%s\"\n", kinds[r.IntN(len(kinds))], b)
		}
		h.WriteString("\n")
		if r.IntN(3) == 0 {
			h.Write(randomText(r, r.IntN(40)))
			h.WriteString("\n")
		}
		for range r.IntN(4) {
			h.WriteString("--" + b + "\n")
			h.WriteString(randomMIME(r, depth-1))
			h.WriteString("\n")
		}
		if r.IntN(4) != 0 {
			h.WriteString("--" + b + "--\n")
		}
		if r.IntN(3) == 0 {
			h.Write(randomText(r, r.IntN(40)))
		}
		return h.String()
	}
	if depth > 0 && r.IntN(4) == 0 {
		return randomEnclosed(r, depth)
	}
	t := types[r.IntN(len(types))]
	if t != "" {
		h.WriteString("Content-Type: " + t)
		if cs := charsets[r.IntN(len(charsets))]; cs != "" {
			h.WriteString("; charset=" + cs)
		}
		if r.IntN(4) == 0 {
			h.WriteString("; name=\"=?utf-8?q?f=C3=BC?=\"")
		}
		h.WriteString("\n")
	}
	if r.IntN(4) == 0 {
		h.WriteString("Content-Disposition: attachment; filename=x.txt\n")
	}
	body := randomText(r, r.IntN(300))
	switch r.IntN(6) {
	case 0:
		h.WriteString("Content-Transfer-Encoding: base64\n\n")
		s := base64.StdEncoding.EncodeToString(body)
		if r.IntN(3) == 0 && len(s) > 4 {
			s = s[:len(s)/2] + "!!" + s[len(s)/2:]
		}
		h.WriteString(s + "\n")
	case 1:
		h.WriteString("Content-Transfer-Encoding: quoted-printable\n\n")
		var b bytes.Buffer
		qw := quotedprintable.NewWriter(&b)
		qw.Write(body)
		qw.Close()
		if r.IntN(3) == 0 {
			b.WriteString("=Z=\n")
		}
		h.Write(b.Bytes())
	case 2:
		h.WriteString("Content-Transfer-Encoding: x-unknown\n\n")
		h.Write(body)
	default:
		h.WriteString("\n")
		h.Write(body)
	}
	return h.String()
}

// randomEnclosed makes a message/rfc822 (or message/global) part: a
// message with a header of fields keepSome keeps and drops, and a body
// of randomMIME; or, now and then, of randomText, a header the MIME
// parser may refuse. It comes in 7bit, base64 (sometimes broken) or an
// unknown encoding, at times as an attachment.
func randomEnclosed(r *rand.Rand, depth int) string {
	var h strings.Builder
	types := []string{"message/rfc822", "message/global", "MESSAGE/RFC822", "message/rfc822; charset=iso-8859-1"}
	h.WriteString("Content-Type: " + types[r.IntN(len(types))] + "\n")
	if r.IntN(6) == 0 {
		h.WriteString("Content-Disposition: attachment; filename=m.eml\n")
	}
	inner := "From: =?utf-8?q?Zo=C3=AB?= <z@example.org>\nX-Dropped: " + string(randomText(r, r.IntN(20))) +
		"\nSubject: enclosed\n folded\nMIME-Version: 1.0\n" + randomMIME(r, depth-1)
	switch r.IntN(8) {
	case 0:
		inner = string(randomText(r, r.IntN(300)))
	case 1:
		inner = " starts folded\n" + inner
	case 2:
		inner = strings.ReplaceAll(inner, "\n", "\r\n")
	}
	switch r.IntN(6) {
	case 0:
		h.WriteString("Content-Transfer-Encoding: base64\n\n")
		s := base64.StdEncoding.EncodeToString([]byte(inner))
		if r.IntN(3) == 0 && len(s) > 4 {
			s = s[:len(s)/2] + "!!" + s[len(s)/2:]
		}
		h.WriteString(s + "\n")
	case 1:
		h.WriteString("Content-Transfer-Encoding: x-unknown\n\n" + inner)
	default:
		h.WriteString("Content-Transfer-Encoding: 7bit\n\n" + inner)
	}
	return h.String()
}

// keepSome is the ignore rule the oracle is checked with: a field of
// enclosed messages is left out.
func keepSome(name string) bool { return !strings.EqualFold(name, "x-dropped") }

// renderBody gives, for any message, what the whole-message display
// gave, and for enclosed messages what the rule says. (FuzzRenderBodyAsBefore
// looks further.)
func TestRenderBodyAsBefore(t *testing.T) {
	r := rand.New(rand.NewPCG(8, 8))
	for i := range 1000 {
		msg := "From: a@b\nMIME-Version: 1.0\n" + randomMIME(r, 3)
		if i%10 == 0 {
			msg = string(randomText(r, r.IntN(500)))
		}
		var want, got bytes.Buffer
		legacyRenderBody(&want, []byte(msg), keepSome)
		renderBody(&got, []byte(msg), keepSome)
		if got.String() != want.String() {
			t.Fatalf("case %d: %q\ngot  %q\nwant %q", i, msg, got.String(), want.String())
		}
	}
	// Nested past maxDepth.
	for _, n := range []int{maxDepth - 1, maxDepth, maxDepth + 1, 200} {
		for _, kind := range []string{"message/rfc822", "multipart/mixed; boundary=b"} {
			msg := nestedMessages(n, func(i int, inner string) string {
				if kind == "message/rfc822" {
					return fmt.Sprintf("Subject: %d\nX-Dropped: x\nContent-Type: message/rfc822\n\n%s", i, inner)
				}
				return fmt.Sprintf("Subject: %d\nContent-Type: multipart/mixed; boundary=b%d\n\n--b%d\nContent-Type: message/rfc822; name=\"m%d\"\n\n%s\n--b%d--\n", i, i, i, i, inner, i)
			})
			var want, got bytes.Buffer
			legacyRenderBody(&want, []byte(msg), keepSome)
			renderBody(&got, []byte(msg), keepSome)
			if got.String() != want.String() {
				t.Fatalf("%s nested %d deep:\ngot  %q\nwant %q", kind, n, got.String(), want.String())
			}
		}
	}
}

func FuzzRenderBodyAsBefore(f *testing.F) {
	r := rand.New(rand.NewPCG(9, 9))
	for range 20 {
		f.Add([]byte("MIME-Version: 1.0\n" + randomMIME(r, 3)))
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		var want, got bytes.Buffer
		legacyRenderBody(&want, raw, keepSome)
		renderBody(&got, raw, keepSome)
		if got.String() != want.String() {
			t.Fatalf("%q\ngot  %q\nwant %q", raw, got.String(), want.String())
		}
	})
}

// Texts larger than the spool's memory (a megabyte) in every kind of
// charset decode as they did whole; in an unknown charset, not UTF-8,
// they come whole with the error.
func TestCharsetReaderLarge(t *testing.T) {
	r := rand.New(rand.NewPCG(10, 10))
	big := func(unit string) []byte { return bytes.Repeat([]byte(unit), (3<<20)/len(unit)) }
	cases := map[string][]byte{
		"utf-8-label": append(big("caf\xc3\xa9 \xff\xfe "), randomText(r, 1000)...),
		"utf8":        append(big("caf\xc3\xa9 \xff "), randomText(r, 1000)...),
		"iso-8859-1":  big("caf\xe9 \x80 "),
		"cp1252":      big("\x93q\x94 \x81 "),
		"shift_jis":   big("\x82\xb1\x82\xf1 \xff "),
		"koi8-r":      big("\xc1\xc2 x "),
		"x-nowhere":   big("caf\xc3\xa9 ascii "),
		"x-bad":       big("caf\xe9 ascii "),
	}
	for cs, text := range cases {
		want, werr := legacyCharsetReader(cs, bytes.NewReader(text))
		got, gerr := charsetReader(cs, bytes.NewReader(text))
		if (werr == nil) != (gerr == nil) {
			t.Errorf("%s: error %v, want %v", cs, gerr, werr)
			continue
		}
		if werr != nil {
			// go-message keeps neither reader: the text goes
			// with the error, as its bytes are.
			var wu, gu *unknownCharset
			if !errors.As(werr, &wu) || !errors.As(gerr, &gu) {
				t.Errorf("%s: error %v, want %v, both with the text", cs, gerr, werr)
				continue
			}
			want, got = wu.text, gu.text
		}
		w, _ := io.ReadAll(want)
		g, err := io.ReadAll(got)
		if err != nil || !bytes.Equal(g, w) {
			t.Errorf("%s: %v; %d bytes, want %d, first difference at %d", cs, err, len(g), len(w), firstDiff(g, w))
		}
	}
}
