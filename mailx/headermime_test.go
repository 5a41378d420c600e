package mailx

import (
	"encoding/json"
	"os"
	"slices"
	"strings"
	"testing"
)

// readBody gives the queued message q as Python's email package reads
// it: its Content-Type, charset and Content-Transfer-Encoding fields (all
// of them), the body decoded from its transfer encoding (for a
// multipart, that of its first part), that body as text (get_content,
// in the charset named), and the count of defects.
func readBody(t *testing.T, h *home, q queued) (ctypes, encs []string, charset, payload, text string, defects int) {
	t.Helper()
	eml := h.path("queued.eml")
	if err := os.WriteFile(eml, []byte(q.raw), 0o600); err != nil {
		t.Fatal(err)
	}
	out := python(t, `
import email, json, sys
from email import policy
m = email.message_from_binary_file(open(sys.argv[1], 'rb'), policy=policy.default)
defects = len(m.defects)
p = m
if m.is_multipart():
    p = m.get_payload()[0]
    defects += len(p.defects)
print(json.dumps({
    'ctypes': [v.strip() for k, v in m.raw_items() if k.lower() == 'content-type'],
    'encs': [v.strip() for k, v in m.raw_items() if k.lower() == 'content-transfer-encoding'],
    'charset': p.get_content_charset() or '',
    'payload': p.get_payload(decode=True).decode('latin-1'),
    'text': p.get_content() if p.get_content_maintype() == 'text' else '',
    'defects': defects,
}))
`, eml)
	var r struct {
		Ctypes, Encs           []string
		Charset, Payload, Text string
		Defects                int
	}
	if err := json.Unmarshal([]byte(out), &r); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	// The body's bytes came as Latin-1 letters.
	b := make([]byte, 0, len(r.Payload))
	for _, c := range r.Payload {
		b = append(b, byte(c))
	}
	return r.Ctypes, r.Encs, r.Charset, string(b), r.Text, r.Defects
}

// A Content-Type given with -a for a message without attachments is
// kept with its charset, whichever it is, and the text is sent as it was
// typed: go-message's writer refused any charset but UTF-8 and US-ASCII
// ("unhandled charset"), and the text went to dead.letter. A text type
// given without a charset gets the one the text has (text/html in UTF-8
// was sent without one, read as US-ASCII), as GNU mailutils adds one. A
// Content-Transfer-Encoding given is the one the body is written in,
// once, where the body fits it (7bit was written over 8-bit text); one
// that cannot be written is refused before the body is read, as is a
// Content-Type that is no media type: they left the text in dead.letter.
func TestHeaderLineContentType(t *testing.T) {
	cases := []struct {
		name, body string
		lines      []string
		ctype      string // the Content-Type written
		enc        string
		charset    string
		payload    string // the body, decoded from its transfer encoding
		text       string // and read in its charset ("" for the payload)
		rawBody    string // the body as written, when it is checked
	}{
		{name: "latin1", body: "Caf\xe9 cr\xe8me\n", lines: []string{"Content-Type: text/plain; charset=iso-8859-1"},
			ctype: "text/plain; charset=iso-8859-1", enc: "quoted-printable", charset: "iso-8859-1",
			payload: "Caf\xe9 cr\xe8me\n", text: "Café crème\n"},
		{name: "koi8-r base64", body: "\xf0\xd2\xc9\xd7\xc5\xd4\n",
			lines: []string{"Content-Type: text/plain; charset=koi8-r", "Content-Transfer-Encoding: base64"},
			ctype: "text/plain; charset=koi8-r", enc: "base64", charset: "koi8-r",
			payload: "\xf0\xd2\xc9\xd7\xc5\xd4\n", text: "Привет\n"},
		{name: "utf-8 label on latin1", body: "Caf\xe9\n", lines: []string{"Content-Type: text/plain; charset=UTF-8"},
			ctype: "text/plain; charset=UTF-8", enc: "quoted-printable", charset: "utf-8", payload: "Caf\xe9\n", text: "Caf\ufffd\n"},
		{name: "html utf-8", body: "<p>Grüße</p>\n", lines: []string{"Content-Type: text/html"},
			ctype: "text/html; charset=utf-8", enc: "quoted-printable", charset: "utf-8", payload: "<p>Grüße</p>\n"},
		{name: "html latin1", body: "<p>Caf\xe9</p>\n", lines: []string{"content-type: text/html;"},
			ctype: "text/html; charset=utf-8", enc: "quoted-printable", charset: "utf-8", payload: "<p>Café</p>\n"},
		{name: "html ascii", body: "<p>plain</p>\n", lines: []string{"Content-Type: text/html"},
			ctype: "text/html; charset=us-ascii", enc: "7bit", charset: "us-ascii", payload: "<p>plain</p>\n"},
		{name: "base64", body: "Grüße\n", lines: []string{"Content-Transfer-Encoding: base64"},
			ctype: "text/plain; charset=utf-8", enc: "base64", charset: "utf-8", payload: "Grüße\n", rawBody: "R3LDvMOfZQo="},
		{name: "quoted-printable", body: "plain\n", lines: []string{"Content-Transfer-Encoding: Quoted-Printable"},
			ctype: "text/plain; charset=us-ascii", enc: "Quoted-Printable", charset: "us-ascii", payload: "plain\n"},
		{name: "7bit over 8 bits", body: "Grüße\n", lines: []string{"Content-Transfer-Encoding: 7bit"},
			ctype: "text/plain; charset=utf-8", enc: "quoted-printable", charset: "utf-8", payload: "Grüße\n", rawBody: "Gr=C3=BC=C3=9Fe\n"},
		{name: "8bit", body: "Grüße\n",
			lines: []string{"Content-Type: text/plain; charset=UTF-8", "Content-Transfer-Encoding: 8bit"},
			ctype: "text/plain; charset=UTF-8", enc: "8bit", charset: "utf-8", payload: "Grüße\n", rawBody: "Grüße\n"},
		{name: "8bit over long lines", body: strings.Repeat("ü", 600) + "\n", lines: []string{"Content-Transfer-Encoding: 8bit"},
			ctype: "text/plain; charset=utf-8", enc: "quoted-printable", charset: "utf-8", payload: strings.Repeat("ü", 600) + "\n"},
		{name: "json", body: `{"a":"ü"}` + "\n", lines: []string{"Content-Type: application/json"},
			ctype: "application/json", enc: "base64", payload: `{"a":"ü"}` + "\n"},
		{name: "multipart", body: "--XX\nContent-Type: text/plain; charset=utf-8\n\nGrüße\n--XX--\n",
			lines: []string{"Content-Type: multipart/alternative; boundary=XX", "Content-Transfer-Encoding: quoted-printable"},
			ctype: "multipart/alternative; boundary=XX", enc: "8bit", charset: "utf-8", payload: "Grüße"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			h := newHome(t)
			args := []string{"-s", "t"}
			for _, l := range c.lines {
				args = append(args, "-a", l)
			}
			if _, e, code := h.mail(t, c.body, append(args, "root")...); code != 0 {
				t.Fatalf("exit %d: %s", code, e)
			}
			if _, err := os.Stat(h.path("dead.letter")); err == nil {
				t.Error("dead.letter written")
			}
			q := h.only(t)
			ctypes, encs, charset, payload, text, defects := readBody(t, h, q)
			if !slices.Equal(ctypes, []string{c.ctype}) || !slices.Equal(encs, []string{c.enc}) || defects != 0 {
				t.Errorf("Content-Type %q, Content-Transfer-Encoding %q, %d defects; want %q, %q\n%s", ctypes, encs, defects, c.ctype, c.enc, q.raw)
			}
			if charset != c.charset || payload != c.payload {
				t.Errorf("charset %q, body %q; want %q, %q\n%s", charset, payload, c.charset, c.payload, q.raw)
			}
			if want := c.text; want != "" && text != want {
				t.Errorf("read as text %q, want %q", text, want)
			}
			if _, body, _ := strings.Cut(q.raw, "\n\n"); c.rawBody != "" && body != c.rawBody {
				t.Errorf("body written %q, want %q", body, c.rawBody)
			}
		})
	}

	for _, l := range []string{"Content-Transfer-Encoding: x-uuencode", "Content-Type: text/", "Content-Type: multipart/mixed"} {
		h := newHome(t)
		_, e, code := h.mail(t, "Caf\xe9\n", "-s", "t", "-a", l, "root")
		if code != 64 || !strings.Contains(e, l) {
			t.Errorf("%s: exit %d, %q; want 64 and the line named", l, code, e)
		}
		if _, err := os.Stat(h.path("dead.letter")); err == nil {
			t.Errorf("%s: dead.letter written", l)
		}
		if q := h.queue(t); len(q) != 0 {
			t.Errorf("%s: %d messages queued", l, len(q))
		}
	}
}

// Each keyword of a Keywords field given with -a that is not ASCII is
// an encoded word of its own (RFC 2047 5: it stands for a phrase;
// Keywords is a list of phrases, RFC 5322 3.6.5): encoded as one, as an
// unstructured field is, the list was read as a single keyword.
func TestHeaderLineKeywords(t *testing.T) {
	h := newHome(t)
	if _, e, code := h.mail(t, "body\n", "-s", "t", "-a", "Keywords: ä, b, \"x, y\", Grüße aus Köln, \"Zoë, Z\", d (ä)", "root"); code != 0 {
		t.Fatalf("exit %d: %s", code, e)
	}
	q := h.only(t)
	header, _, _ := strings.Cut(q.raw, "\n\n")
	if !isASCII(header) {
		t.Errorf("8 bits in the header:\n%s", header)
	}
	eml := h.path("queued.eml")
	if err := os.WriteFile(eml, []byte(q.raw), 0o600); err != nil {
		t.Fatal(err)
	}
	// The keywords as a reader takes them: phrases between commas,
	// each decoded.
	out := python(t, `
import email, sys
from email import policy
from email import _header_value_parser as parser
m = email.message_from_binary_file(open(sys.argv[1], 'rb'), policy=policy.compat32)
rest = ''.join(m['Keywords'].splitlines())
words = []
while rest:
    phrase, rest = parser.get_phrase(rest)
    words.append(phrase.value.strip())
    rest = rest.lstrip()
    if rest.startswith(','):
        rest = rest[1:]
sys.stdout.buffer.write('\n'.join(words).encode('utf-8', 'backslashreplace'))
`, eml)
	want := []string{"ä", "b", "x, y", "Grüße aus Köln", "Zoë, Z", "d (ä)"}
	if got := strings.Split(out, "\n"); !slices.Equal(got, want) {
		t.Errorf("python reads %q, want %q\n%s", got, want, header)
	}
}
