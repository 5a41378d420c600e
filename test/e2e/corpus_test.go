package e2e

import (
	"bytes"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"

	"homepost/test/testenv"
)

// corpusDir is the shared set of real-world messages: odd encodings,
// broken MIME, bounces from many MTAs.
func corpusDir(t *testing.T) string {
	_, file, _, _ := runtime.Caller(0)
	dir := filepath.Join(filepath.Dir(file), "..", "..", "..", "shared", "corpus", "messages")
	if _, err := os.Stat(dir); err != nil {
		t.Skipf("SKIP: no corpus at %s", dir)
	}
	return dir
}

// normalize is what the shim promises to keep: the bytes as received with
// CRLF turned into LF (and each CR into LF in a message with no LF at
// all: classic Mac OS line ends), a leading mbox "From " line dropped,
// and the header's Return-Path fields removed (delivery writes its own).
func normalize(b []byte) []byte {
	if bytes.IndexByte(b, '\n') < 0 {
		b = bytes.ReplaceAll(b, []byte("\r"), []byte("\n"))
	}
	b = bytes.ReplaceAll(b, []byte("\r\n"), []byte("\n"))
	if bytes.HasPrefix(b, []byte("From ")) {
		if i := bytes.IndexByte(b, '\n'); i >= 0 {
			b = b[i+1:]
		}
	}
	return dropReturnPath(b)
}

// dropReturnPath removes the Return-Path fields of b's header section,
// with their continuation lines; a Return-Path line in the body (a
// bounce quotes the message it returns) stays.
func dropReturnPath(b []byte) []byte {
	out := make([]byte, 0, len(b))
	drop, fields := false, 0
	for rest := b; len(rest) > 0; {
		line := rest
		if i := bytes.IndexByte(rest, '\n'); i >= 0 {
			line = rest[:i+1]
		}
		if line[0] == ' ' || line[0] == '\t' {
			if fields == 0 {
				return append(out, rest...)
			}
			if !drop {
				out = append(out, line...)
			}
			rest = rest[len(line):]
			continue
		}
		name, _, ok := bytes.Cut(line, []byte(":"))
		name = bytes.TrimRight(name, " \t")
		if !ok || len(name) == 0 || bytes.ContainsFunc(name, func(r rune) bool { return r <= ' ' || r > '~' }) {
			// The empty line, or the first line that is no field:
			// the body.
			return append(out, rest...)
		}
		fields++
		drop = strings.EqualFold(string(name), "Return-Path")
		if !drop {
			out = append(out, line...)
		}
		rest = rest[len(line):]
	}
	return out
}

// Every corpus message passes through sendmail and the agent into the
// Maildir byte for byte: header order, folding, encodings and 8-bit
// bytes untouched, with only trace headers prepended, missing
// From/Date/Message-ID appended and a Return-Path of the message's own
// removed: each copy has one Return-Path, the one delivery wrote.
func TestCorpusPassesIntact(t *testing.T) {
	t.Parallel()
	dir := corpusDir(t)
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	e := testenv.New(t, "")
	ids := map[string]string{} // queue ID → corpus file
	for _, ent := range ents {
		if !strings.HasSuffix(ent.Name(), ".eml") {
			continue
		}
		raw, err := os.ReadFile(filepath.Join(dir, ent.Name()))
		if err != nil {
			t.Fatal(err)
		}
		_, stderr, code := e.Run(raw, "sendmail", "-v", "-i", "root")
		if code != 0 {
			t.Errorf("%s: sendmail exit %d: %s", ent.Name(), code, stderr)
			continue
		}
		ids[strings.TrimSpace(strings.TrimPrefix(stderr, "homepost: queued as "))] = ent.Name()
	}
	e.Once()
	stored := testenv.Files(e.Path("Maildir", "new"))
	if len(stored) != len(ids) {
		t.Fatalf("%d messages sent, %d stored", len(ids), len(stored))
	}
	for _, name := range stored {
		_, rest, _ := strings.Cut(name, ".")
		id, _, _ := strings.Cut(rest, ".")
		id = id[:strings.LastIndexByte(id, 'R')]
		src := ids[id]
		if src == "" {
			t.Errorf("stored copy %s matches no sent message", name)
			continue
		}
		raw, _ := os.ReadFile(filepath.Join(dir, src))
		want := normalize(raw)
		got, _ := os.ReadFile(e.Path("Maildir", "new", name))
		got = stripAdded(t, src, got, want)
		if !bytes.Equal(got, want) {
			t.Errorf("%s: stored copy differs from the original\n--- got (first 600 bytes)\n%s\n--- want\n%s", src, head(got), head(want))
		}
	}
	// An independent reader takes every copy.
	out := testenv.Python(t, `
import mailbox, sys
md = mailbox.Maildir(sys.argv[1], factory=None, create=False)
print(len(md.keys()), sum(1 for k in md.keys() if len(md[k].get_all('Return-Path') or []) == 1))
`, e.Path("Maildir"))
	if f := strings.Fields(out); len(f) != 2 || f[0] != f[1] || f[0] != strconv.Itoa(len(ids)) {
		t.Errorf("python mailbox read %q, want %d messages each with one Return-Path", out, len(ids))
	}
}

// stripAdded removes what delivery prepends (Return-Path, Delivered-To,
// Received) and the fields the shim appended, checking that nothing else
// was added.
func stripAdded(t *testing.T, src string, got, orig []byte) []byte {
	t.Helper()
	lines := strings.SplitAfter(string(got), "\n")
	// Trace: Return-Path, Delivered-To, Received (two lines).
	if len(lines) < 4 || !strings.HasPrefix(lines[0], "Return-Path: ") || !strings.HasPrefix(lines[1], "Delivered-To: ") ||
		!strings.HasPrefix(lines[2], "Received: ") || !strings.HasPrefix(lines[3], "\tfor <") {
		t.Errorf("%s: trace header missing:\n%s", src, head(got))
		return got
	}
	lines = lines[4:]
	var out []string
	removed := false
	for _, l := range lines {
		for _, p := range []string{"From: ", "Date: ", "Message-ID: "} {
			if strings.HasPrefix(l, p) && !bytes.Contains(orig, []byte(l)) {
				removed = true
				l = ""
			}
		}
		if l != "" {
			out = append(out, l)
		}
	}
	// Appending a field to a message whose last line has no line break
	// adds one; the shim also separates its fields from a body that
	// began without an empty line. Accept exactly those.
	match := func(c []byte) bool {
		return bytes.Equal(c, orig) || (removed && !bytes.HasSuffix(orig, []byte("\n")) &&
			bytes.Equal(c, append(bytes.Clone(orig), '\n')))
	}
	res := []byte(strings.Join(out, ""))
	if match(res) {
		return orig
	}
	if removed {
		for i := range out {
			if out[i] == "\n" {
				alt := []byte(strings.Join(append(append([]string{}, out[:i]...), out[i+1:]...), ""))
				if match(alt) {
					return orig
				}
			}
		}
	}
	return res
}

func head(b []byte) string {
	if len(b) > 600 {
		b = b[:600]
	}
	return string(b)
}
