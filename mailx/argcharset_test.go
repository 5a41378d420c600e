package mailx

import (
	"os"
	"slices"
	"strings"
	"testing"
	"unicode/utf8"

	"homepost/addr"
)

// readHeaders gives the fields of the queued message q as Python's email
// package decodes them: for each name, "display name|address" for an
// address field, the text for any other, then the count of defects.
func readHeaders(t *testing.T, h *home, q queued, names ...string) []string {
	t.Helper()
	eml := h.path("queued.eml")
	if err := os.WriteFile(eml, []byte(q.raw), 0o600); err != nil {
		t.Fatal(err)
	}
	out := python(t, `
import email, sys
from email import policy
m = email.message_from_binary_file(open(sys.argv[1], 'rb'), policy=policy.default)
out, defects = [], 0
for name in sys.argv[2:]:
    f = m[name]
    if f is None:
        out.append('(none)')
        continue
    defects += len(f.defects)
    if hasattr(f, 'addresses'):
        out.append(', '.join(a.display_name + '|' + a.addr_spec for a in f.addresses))
    else:
        out.append(str(f))
out.append(str(defects))
sys.stdout.buffer.write('\n'.join(out).encode('utf-8', 'backslashreplace'))
`, append([]string{eml}, names...)...)
	return strings.Split(out, "\n")
}

// Header text typed on the command line where the terminal is not UTF-8
// (a subject, the display names of -r, -c and -b, a field given with -a,
// NAME) is read as windows-1252 and sent as UTF-8, as a body in 8 bits
// that is not UTF-8 is: a subject in Latin-1 went out as U+FFFD, its
// letters lost. Text that is UTF-8 but for a stray byte has U+FFFD for
// that byte, as it cannot be sent as it is in a header.
func TestLatin1CommandLineHeaders(t *testing.T) {
	h := newHome(t)
	_, e, code := h.mail(t, "body\n", "-s", "Gr\xfc\xdfe", "-r", "J\xfcrgen <me@example.org>",
		"-c", "J\xfcrgen M\xfcller <c@example.org>", "-b", "J\xfcrgen <b@example.org>", "-a", "X-Note: \x93Gr\xfc\xdfe\x94", "root")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, e)
	}
	q := h.only(t)
	if !slices.Equal(q.rcpts, []string{"root", "c@example.org", "b@example.org"}) {
		t.Errorf("recipients %q", q.rcpts)
	}
	want := []string{"Grüße", "Jürgen|me@example.org", "Jürgen Müller|c@example.org", "“Grüße”", "(none)", "0"}
	if got := readHeaders(t, h, q, "Subject", "From", "Cc", "X-Note", "Bcc"); !slices.Equal(got, want) {
		t.Errorf("python reads %q, want %q\n%s", got, want, q.raw)
	}
	os.Remove(h.path(".local/state/homepost/outbox/new/" + queuedName(t, h)))

	// The same with -t, whose fields from options are added to the
	// header read from standard input.
	_, e, code = h.mail(t, "To: root\n\nbody\n", "-t", "-s", "Gr\xfc\xdfe", "-c", "J\xfcrgen <c@example.org>")
	if code != 0 {
		t.Fatalf("-t: exit %d: %s", code, e)
	}
	q = h.only(t)
	want = []string{"Grüße", "Jürgen|c@example.org", "0"}
	if got := readHeaders(t, h, q, "Subject", "Cc"); !slices.Equal(got, want) {
		t.Errorf("-t: python reads %q, want %q\n%s", got, want, q.raw)
	}
	os.Remove(h.path(".local/state/homepost/outbox/new/" + queuedName(t, h)))

	// NAME, the full name of the From that is written, and a subject
	// that is UTF-8 but for a stray byte.
	h.env = append(h.env, "NAME=J\xfcrgen")
	if _, e, code = h.mail(t, "body\n", "-s", "Grüße \xff", "root"); code != 0 {
		t.Fatalf("NAME: exit %d: %s", code, e)
	}
	q = h.only(t)
	if got := readHeaders(t, h, q, "Subject", "From"); got[0] != "Grüße \uFFFD" || !strings.HasPrefix(got[1], "Jürgen|") || got[2] != "0" {
		t.Errorf("python reads %q\n%s", got, q.raw)
	}
}

// queuedName is the file name of the one message in the outbox.
func queuedName(t *testing.T, h *home) string {
	t.Helper()
	entries, err := os.ReadDir(h.path(".local/state/homepost/outbox/new"))
	if err != nil || len(entries) != 1 {
		t.Fatalf("outbox: %v, %d entries", err, len(entries))
	}
	return entries[0].Name()
}

// mail(1) and sendmail read header text that is not UTF-8 alike: each
// byte of 0x80 and over, alone, is the same character for both
// (latinFallback here, addr.HeaderText for sendmail's -F).
func TestLatinFallbackMatchesAddr(t *testing.T) {
	for c := 0x80; c <= 0xff; c++ {
		s := "x" + string([]byte{byte(c)}) + "y"
		got, want := addr.HeaderText(s), latinFallback(s)
		if !utf8.ValidString(want) {
			want = validUTF8(want)
		}
		if got != want {
			t.Errorf("byte %#x: addr.HeaderText %q, latinFallback %q", c, got, want)
		}
	}
}
