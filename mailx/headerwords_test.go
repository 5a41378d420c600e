package mailx

import (
	"mime"
	"net/mail"
	"os"
	"slices"
	"strings"
	"testing"
	"unicode/utf8"
)

// A field given with -a whose value is not ASCII is encoded as -s is
// (RFC 2047), and only the display names in an address field: it was
// written in 8 bits, which only a reader of RFC 6532 takes, and which a
// relay without SMTPUTF8 may refuse. A value typed in Latin-1 is read
// as windows-1252 first, as -s is. ASCII values stay as they were typed.
func TestAttachHeaderEncoded(t *testing.T) {
	h := newHome(t)
	_, e, code := h.mail(t, "body\n",
		"-a", "X-Note: “Grüße” aus Köln",
		"-a", "Comments: Gr\xfc\xdfe",
		"-a", `From: Jürgen Müller <j@example.org>, "Doe, J." <d@example.org>`,
		"-a", "Reply-To: Fründe: zoe@example.org, Zoë <z@example.org>;",
		"-a", "Cc: j@example.org (Jürgen), <jürgen@example.org>",
		"-a", "Sender: j@example.org (Jürgen)",
		"-a", "X-Plain: J. Doe <j@example.org>",
		"-s", "x", "root")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, e)
	}
	q := h.only(t)
	header, _, _ := strings.Cut(q.raw, "\n\n")
	for _, l := range strings.Split(header, "\n") {
		if !isASCII(l) && !strings.Contains(l, "jürgen@") {
			t.Errorf("8 bits in %q", l)
		}
	}
	if !strings.Contains(header, "\nX-Plain: J. Doe <j@example.org>\n") || !strings.Contains(header, "jürgen@example.org") {
		t.Errorf("an ASCII field or an address was not kept as typed:\n%s", header)
	}
	want := []string{
		"“Grüße” aus Köln",
		"Grüße",
		"Jürgen Müller|j@example.org, Doe, J.|d@example.org",
		"|zoe@example.org, Zoë|z@example.org",
		"Jürgen|j@example.org",
		"J. Doe <j@example.org>",
		"0",
	}
	// (Python's email reads an address in UTF-8 as bytes it cannot
	// decode: Sender has the Cc's display name without it.)
	got := readHeaders(t, h, q, "X-Note", "Comments", "From", "Reply-To", "Sender", "X-Plain")
	if !slices.Equal(got, want) {
		t.Errorf("python reads %q, want %q\n%s", got, want, header)
	}
	if !strings.Contains(header, "=?utf-8?q?Fr=C3=BCnde?= : zoe@example.org") {
		t.Errorf("group name not encoded in place:\n%s", header)
	}
	os.Remove(h.path(".local/state/homepost/outbox/new/" + queuedName(t, h)))

	// With -t, the fields given with -a are added to the header read
	// from standard input, encoded alike.
	if _, e, code := h.mail(t, "To: root\n\nbody\n", "-t", "-a", "X-Note: Grüße", "-a", "From: Zoë <z@example.org>"); code != 0 {
		t.Fatalf("-t: exit %d: %s", code, e)
	}
	q = h.only(t)
	header, _, _ = strings.Cut(q.raw, "\n\n")
	if !isASCII(header) {
		t.Errorf("-t: 8 bits in the header:\n%s", header)
	}
	if got, want := readHeaders(t, h, q, "X-Note", "From"), []string{"Grüße", "Zoë|z@example.org", "0"}; !slices.Equal(got, want) {
		t.Errorf("-t: python reads %q, want %q\n%s", got, want, header)
	}
	os.Remove(h.path(".local/state/homepost/outbox/new/" + queuedName(t, h)))

	// A display name before a local name that does not parse as an
	// address (no domain) is encoded too, on -c as with -a.
	if _, e, code := h.mail(t, "body\n", "-c", "Zoë <root>", "-a", "Reply-To: \"Zoë, Z\" <postmaster>", "root"); code != 0 {
		t.Fatalf("exit %d: %s", code, e)
	}
	q = h.only(t)
	header, _, _ = strings.Cut(q.raw, "\n\n")
	if !isASCII(header) || !strings.Contains(header, "\nCc: =?utf-8?q?Zo=C3=AB?= <root>\n") || !strings.Contains(header, "<postmaster>") {
		t.Errorf("local names:\n%s", header)
	}
}

func TestEncodeField(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"X-A: plain", "X-A: plain"},
		{"X-A:", "X-A:"},
		{"From: J. Doe <j@x.org>", "From: J. Doe <j@x.org>"},
		{"X-A: Grüße", "X-A: =?utf-8?q?Gr=C3=BC=C3=9Fe?="},
		{"Subject:  Grüße ", "Subject: =?utf-8?q?Gr=C3=BC=C3=9Fe?="},
		{"To: Zoë <z@x.org>", "To: =?utf-8?q?Zo=C3=AB?= <z@x.org>"},
		{"To: a@x.org,  Zoë <z@x.org> , b@x.org", "To: a@x.org,  =?utf-8?q?Zo=C3=AB?= <z@x.org> , b@x.org"},
		{`To: "Zoë, Z." <z@x.org>`, "To: =?utf-8?b?Wm/DqywgWi4=?= <z@x.org>"},
		{"To: zoë@x.org", "To: zoë@x.org"},
		{"To: <zoë@x.org>", "To: <zoë@x.org>"},
		{"To: Zoë <zoë@x.org>", "To: =?utf-8?q?Zo=C3=AB?= <zoë@x.org>"},
		{"To: z@x.org (Zoë)", "To: =?utf-8?q?Zo=C3=AB?= <z@x.org>"},
		{"To: Fründe: a@x.org, b@x.org;", "To: =?utf-8?q?Fr=C3=BCnde?= : a@x.org, b@x.org;"},
		{"To: Zoë <@relay.example:z@x.org>", "To: =?utf-8?q?Zo=C3=AB?= <@relay.example:z@x.org>"},
		{"To: Zoë <root>", "To: =?utf-8?q?Zo=C3=AB?= <root>"},
		{"To: a@[IPv6:::1], Zoë <z@x.org>", "To: a@[IPv6:::1], =?utf-8?q?Zo=C3=AB?= <z@x.org>"},
		{"Message-ID: <ä@x.org>", "Message-ID: <ä@x.org>"},
		{"Content-Type: text/plain; name=ä", "Content-Type: text/plain; name=ä"},
	} {
		if got := encodeField(c.in); got != c.want {
			t.Errorf("encodeField(%q) = %q, want %q", c.in, got, c.want)
		}
	}
}

// FuzzEncodeField: a field given with -a stays one line; an ASCII value
// is kept as it is; an unstructured value decodes to what was given; an
// address field reads as the same names and addresses as given.
func FuzzEncodeField(f *testing.F) {
	f.Add("X-Note: “Grüße”")
	f.Add(`To: "Doe, J" <j@x>, Zoë (c, d) <z@y>, Fründe: a@x, b@y;, <zoë@x>`)
	f.Add("Cc: Zoë <root>, x\\\"ü (a\\)) <y@[1:2]>")
	f.Fuzz(func(t *testing.T, arg string) {
		line := sanitize(arg)
		if !isHeaderLine(line) {
			return
		}
		got := encodeField(line)
		name, in, _ := strings.Cut(line, ":")
		gname, out, _ := strings.Cut(got, ":")
		switch {
		case strings.ContainsAny(got, "\r\n") || !utf8.ValidString(got) || gname != name:
			t.Fatalf("encodeField(%q) = %q", line, got)
		case isASCII(in):
			if got != line {
				t.Fatalf("encodeField(%q) = %q: ASCII changed", line, got)
			}
		case addressFields[strings.ToLower(name)]:
			// (A list that only a lenient reading takes may be read
			// otherwise once encoded: it was ambiguous.)
			want, err := mail.ParseAddressList(in)
			if err != nil {
				return
			}
			have, err := mail.ParseAddressList(out)
			if err != nil || len(have) != len(want) {
				t.Fatalf("encodeField(%q) = %q: %d addresses (%v), want %d", line, got, len(have), err, len(want))
			}
			for i := range have {
				if have[i].Address != want[i].Address || have[i].Name != want[i].Name {
					t.Fatalf("encodeField(%q) = %q: %q, want %q", line, got, have[i], want[i])
				}
			}
		case strings.HasPrefix(strings.ToLower(name), "x-"):
			dec, err := new(mime.WordDecoder).DecodeHeader(strings.TrimSpace(out))
			if err != nil || dec != strings.TrimSpace(in) || !isASCII(out) {
				t.Fatalf("encodeField(%q) = %q: decodes to %q (%v)", line, got, dec, err)
			}
		}
	})
}
