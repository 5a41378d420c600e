package mailx

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	goflag "flag"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"homepost/maildir"
	"homepost/test/testenv"
)

var updateDisplay = goflag.Bool("update-display", false, "rewrite testdata/display.sum from what mail shows now")

// displayScript shows, pipes and copies message 1 in every way that
// reads a whole message; its output, with the files it writes, is what
// TestDisplayUnchanged compares.
const displayScript = `p 1
P 1
top 1
set toplines=100000
top 1
pipe 1 cat
w 1 out.w
c 1 out.c
s 1 out.s
x
`

// displayMessages are the messages TestDisplayUnchanged shows: the
// corpus (when it is there) and made ones for what the corpus lacks
// (charsets, broken encodings, controls, a line of more than a MiB,
// mboxrd quoting, a header that never ends).
func displayMessages(t *testing.T) map[string][]byte {
	t.Helper()
	msgs := map[string][]byte{}
	dir := filepath.Join(testenv.Root(), "..", "shared", "corpus", "messages")
	if ents, err := os.ReadDir(dir); err == nil {
		for _, e := range ents {
			if !strings.HasSuffix(e.Name(), ".eml") {
				continue
			}
			b, err := os.ReadFile(filepath.Join(dir, e.Name()))
			if err != nil {
				t.Fatal(err)
			}
			msgs["corpus/"+e.Name()] = b
		}
	} else {
		t.Logf("no corpus at %s: only the made messages are shown", dir)
	}
	for name, b := range madeMessages() {
		msgs["made/"+name] = b
	}
	return msgs
}

// madeMessages are generated, the same on every run.
func madeMessages() map[string][]byte {
	r := rand.New(rand.NewPCG(7, 11))
	rnd := func(n int) []byte {
		b := make([]byte, n)
		for i := range b {
			b[i] = byte(r.Uint32())
		}
		return b
	}
	b64 := func(data []byte) string {
		s := base64.StdEncoding.EncodeToString(data)
		var out strings.Builder
		for len(s) > 76 {
			out.WriteString(s[:76] + "\n")
			s = s[76:]
		}
		out.WriteString(s + "\n")
		return out.String()
	}
	hdr := "From: Zoë <z@example.org>\nTo: you@example.net\nDate: Mon, 2 Mar 2026 10:00:00 +0000\nMessage-ID: <m@example.org>\nSubject: =?iso-8859-1?q?caf=E9_au_lait?=\n"
	mime := hdr + "MIME-Version: 1.0\n"
	long := strings.Repeat("0123456789abcdef", (3<<20)/32) // 1.5 MiB
	var lines strings.Builder
	for i := range 40000 {
		fmt.Fprintf(&lines, "line %d of a long text, ünïcödé, tab\there\n", i)
	}
	m := map[string]string{
		"latin1-qp":   mime + "Content-Type: text/plain; charset=iso-8859-1\nContent-Transfer-Encoding: quoted-printable\n\ncaf=E9 cr=E8me br=FBl=E9e =\nsoft break\n\xe9 raw\n",
		"cp1252":      mime + "Content-Type: text/plain; charset=windows-1252\nContent-Transfer-Encoding: 8bit\n\n\x93quoted\x94 \x80 \x81 \x9f end\n",
		"latin9":      mime + "Content-Type: text/plain; charset=iso-8859-15\n\n\xa4 \xa6 \xbc \xe9\n",
		"utf8-label":  mime + "Content-Type: text/plain; charset=utf8\n\nok \xff\xfe bad \xe2\x82 cut\n",
		"shift-jis":   mime + "Content-Type: text/plain; charset=Shift_JIS\n\n\x82\xb1\x82\xf1\x82\xc9\x82\xbf\x82\xcd \xff\n",
		"unknown-bad": mime + "Content-Type: text/plain; charset=x-nowhere\n\nascii \xe9\xe8 and more\n",
		"unknown-ok":  mime + "Content-Type: text/plain; charset=x-nowhere\n\nascii café\n",
		"controls":    hdr + "\nbell\a esc\x1b[31m red\r\ncr\rmid\r\nnul\x00 del\x7f c1\u0085\u009b tab\tend \xff\xfe\xfd run \xef\xbf\xbd real\nlast line without newline\r",
		"long-line":   hdr + "\nshort\n" + long + "\nafter the long line\n" + long,
		"many-lines":  hdr + "Content-Type: text/plain; charset=utf-8\n\n" + lines.String(),
		"no-blank":    "From: a@example.org\nSubject: all header\nnot a field\n more\nX-Last: yes",
		"no-blank-nl": "From: a@example.org\nSubject: all header\n",
		"empty":       "",
		"blank":       "\n",
		"cont-first":  " starts folded\nFrom: a@example.org\n\nbody\n",
		"mboxrd":      hdr + "\nFrom the start\n>From once\n>>From twice\n>>>\n>From\n> From\n>>>>From x\nFrom end",
		"long-field":  hdr + "X-Long: " + strings.Repeat("=?utf-8?q?w=C3=B6rd?= folded\n\t", 2000) + "end\nSubject: second\n\nbody\n",
		"crlf":        strings.ReplaceAll(mime+"Content-Type: multipart/mixed; boundary=\"b1\"\n\npre\n--b1\nContent-Type: text/plain\n\ncrlf text\n--b1--\n", "\n", "\r\n"),
		"alternative": mime + "Content-Type: multipart/alternative; boundary=alt\n\n--alt\nContent-Type: text/html; charset=iso-8859-1\n\n<p>caf\xe9</p>\n--alt\nContent-Type: text/plain; charset=iso-8859-1\nContent-Transfer-Encoding: quoted-printable\n\ncaf=E9\n--alt\nContent-Type: text/plain\n\nsecond plain\n--alt--\n",
		"nested": mime + "Content-Type: multipart/mixed; boundary=outer\n\n--outer\nContent-Type: multipart/alternative; boundary=inner\n\n--inner\nContent-Type: text/plain\n\ninner text\n--inner\nContent-Type: text/html\n\n<b>x</b>\n--inner--\nepilogue of inner\n--outer\nContent-Type: application/octet-stream; name=\"=?utf-8?q?f=C3=BC.bin?=\"\nContent-Transfer-Encoding: base64\n\n" + b64(rnd(3<<20)) +
			"--outer\nContent-Type: text/plain; charset=utf-8\nContent-Disposition: attachment; filename=\"notes.txt\"\n\nattached text\n--outer\nContent-Type: text/plain; charset=utf-8\nContent-Transfer-Encoding: base64\n\n" + b64([]byte(lines.String()[:200000])) + "--outer--\n",
		"bad-base64":      mime + "Content-Type: multipart/mixed; boundary=b\n\n--b\nContent-Type: text/plain\nContent-Transfer-Encoding: base64\n\naGVsbG8gd29y!!!bGQ=\n--b\nContent-Type: text/plain\nContent-Transfer-Encoding: base64\n\n!!!!\n--b--\n",
		"bad-base64-top":  mime + "Content-Type: text/plain\nContent-Transfer-Encoding: base64\n\n!!!!\n",
		"bad-base64-some": mime + "Content-Type: text/plain\nContent-Transfer-Encoding: base64\n\naGVsbG8gd29ybGQ=\n!!!\n",
		"unknown-cte":     mime + "Content-Type: text/plain\nContent-Transfer-Encoding: x-weird\n\nas is\n",
		"no-final":        mime + "Content-Type: multipart/mixed; boundary=b\n\n--b\nContent-Type: text/plain\n\nno closing delimiter\n",
		"no-boundary":     mime + "Content-Type: multipart/mixed\n\n--b\nContent-Type: text/plain\n\ntext\n--b--\n",
		"outlook":         mime + "Content-Type: multipart/alternative; boundary=----=_NextPart_000\n\n------=_NextPart_000\nContent-Type: text/plain\n\noutlook text\n------=_NextPart_000--\n",
		"part-unknown-cs": mime + "Content-Type: multipart/mixed; boundary=b\n\n--b\nContent-Type: text/plain; charset=x-nowhere\n\n\xe9t\xe9\n--b\nContent-Type: text/html; charset=utf8\n\n\xff\xff html\n--b\nContent-Type: text/html; charset=iso-8859-1\n\n\xe9\xe9\n--b--\n",
		"big-plain":       hdr + "\n" + strings.Repeat(strings.Repeat("y", 72)+"\n", (4<<20)/73),
		"header-from":     "From sender@example.org Mon Mar  2 10:00:00 2026\n" + hdr + "\nbody after an envelope line\n",
	}
	out := map[string][]byte{}
	for k, v := range m {
		out[k] = []byte(v)
	}
	return out
}

// displayRun puts msg alone in a Maildir (kind "maildir") or an mbox
// and runs displayScript on it; it returns what mail printed and wrote.
func displayRun(t *testing.T, kind string, msg []byte) []byte {
	t.Helper()
	h := newHome(t)
	h.env = append(h.env, "TZ=UTC", "COLUMNS=80")
	when := time.Date(2026, 3, 2, 10, 0, 0, 0, time.UTC)
	var box string
	switch kind {
	case "maildir":
		box = "Maildir/"
		plantMaildir(t, h.path("Maildir"), string(msg))
		ents, _ := os.ReadDir(h.path("Maildir/new"))
		for _, e := range ents {
			os.Chtimes(h.path("Maildir/new/"+e.Name()), when, when)
		}
	default:
		box = "box"
		header, body := splitMessage(msg)
		if err := maildir.Mbox(h.path(box)).Append("sender@example.org", when, header, bytes.NewReader(body)); err != nil {
			t.Fatal(err)
		}
	}
	stdout, stderr, code := h.mail(t, displayScript, "-N", "-f", box)
	var out bytes.Buffer
	fmt.Fprintf(&out, "exit %d\n--- stdout\n%s\n--- stderr\n%s\n", code, stdout, stderr)
	for _, f := range []string{"out.w", "out.c", "out.s"} {
		b, _ := os.ReadFile(h.path(f))
		fmt.Fprintf(&out, "--- %s\n%s\n", f, b)
	}
	return out.Bytes()
}

// TestDisplayUnchanged shows, pipes and copies every corpus message and
// made ones, from a Maildir and from an mbox, and compares what mail
// prints and writes, byte for byte, with what it did before it read
// messages as streams (digests in testdata/display.sum; -update-display
// rewrites them).
func TestDisplayUnchanged(t *testing.T) {
	if testing.Short() {
		t.Skip("runs mail a hundred times")
	}
	sumFile := filepath.Join("testdata", "display.sum")
	want := map[string]string{}
	if f, err := os.Open(sumFile); err == nil {
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			if k, v, ok := strings.Cut(sc.Text(), " "); ok {
				want[k] = v
			}
		}
		f.Close()
	} else if !*updateDisplay {
		t.Fatal(err)
	}
	msgs := displayMessages(t)
	names := make([]string, 0, len(msgs))
	for n := range msgs {
		names = append(names, n)
	}
	slices.Sort(names)
	got := map[string]string{}
	for _, kind := range []string{"maildir", "mbox"} {
		for _, n := range names {
			key := kind + ":" + n
			start := time.Now()
			out := displayRun(t, kind, msgs[n])
			if d := time.Since(start); d > time.Second {
				t.Logf("%s: %v", key, d)
			}
			sum := sha256.Sum256(out)
			got[key] = hex.EncodeToString(sum[:])
			if *updateDisplay {
				continue
			}
			w, ok := want[key]
			if !ok {
				t.Errorf("%s: no digest in %s (run with -update-display on the code that shows it right)", key, sumFile)
				continue
			}
			if w != got[key] {
				keep := filepath.Join(t.TempDir(), "out")
				os.WriteFile(keep, out, 0o600)
				t.Errorf("%s: the output differs from before (digest %s, want %s); it is in %s:\n%.3000s", key, got[key], w, keep, out)
			}
		}
	}
	// Every made message in one mbox, shown with one command: the
	// messages' offsets, and the empty line between messages.
	h := newHome(t)
	h.env = append(h.env, "TZ=UTC", "COLUMNS=80")
	when := time.Date(2026, 3, 2, 10, 0, 0, 0, time.UTC)
	for _, n := range names {
		if strings.HasPrefix(n, "made/") {
			header, body := splitMessage(msgs[n])
			if err := maildir.Mbox(h.path("box")).Append("sender@example.org", when, header, bytes.NewReader(body)); err != nil {
				t.Fatal(err)
			}
		}
	}
	stdout, stderr, code := h.mail(t, "p *\nx\n", "-N", "-f", "box")
	sum := sha256.Sum256([]byte(fmt.Sprintf("exit %d\n--- stdout\n%s\n--- stderr\n%s\n", code, stdout, stderr)))
	got["mbox:all-made"] = hex.EncodeToString(sum[:])
	if !*updateDisplay && want["mbox:all-made"] != got["mbox:all-made"] {
		t.Errorf("p * of the made messages in one mbox: the output differs from before:\n%.3000s%s", stdout, stderr)
	}
	if *updateDisplay {
		keys := make([]string, 0, len(got))
		for k := range got {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		var b strings.Builder
		for _, k := range keys {
			b.WriteString(k + " " + got[k] + "\n")
		}
		if err := os.WriteFile(sumFile, []byte(b.String()), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}
