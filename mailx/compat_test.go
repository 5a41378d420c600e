package mailx

import (
	"os"
	"slices"
	"strings"
	"testing"
)

// The options of the other mailx families that system scripts use: -S of
// s-nail, -E COMMAND of GNU mailutils beside POSIX -E.
func TestParseOptionsOtherFamilies(t *testing.T) {
	o, err := parseOptions([]string{"-S", "ttycharset=utf-8", "-r", "root@host", "-s", "x", "root"})
	if err != nil || len(o.early) != 1 || o.early[0].set != "ttycharset=utf-8" || !slices.Equal(o.operands, []string{"root"}) {
		t.Errorf("-S: %+v %v", o, err)
	}
	for _, c := range []struct {
		args []string
		cmd  string
	}{
		{[]string{"-E", "set escape", "-s", "x", "root"}, "set escape"},
		{[]string{"-nE", "set escape", "-s", "x", "root"}, "set escape"},
		{[]string{"-s", "x", "root", "-E", "set escape"}, "set escape"},
		{[]string{"-E", "unset", "root"}, "unset"},
	} {
		o, err := parseOptions(c.args)
		if err != nil || o.noEmpty || len(o.early) != 1 || o.early[0].exec != c.cmd || !slices.Equal(o.operands, []string{"root"}) {
			t.Errorf("%q: %+v %v", c.args, o, err)
		}
	}
	// POSIX -E: the next word is an address or an option.
	for _, args := range [][]string{{"-E", "root"}, {"-E", "-s", "x", "root"}, {"-Es", "x", "root"}, {"-E", "root@example.org"}} {
		o, err := parseOptions(args)
		if err != nil || !o.noEmpty || len(o.early) != 0 || len(o.operands) != 1 {
			t.Errorf("%q: %+v %v", args, o, err)
		}
	}
}

func TestIsHeaderLine(t *testing.T) {
	for arg, want := range map[string]bool{
		"MIME-Version: 1.0":   true,
		"From: root@host":     true,
		"X-Empty:":            true,
		"X-Tab:\tv":           true,
		"report.csv":          false,
		"notes:2024.txt":      false,
		"/tmp/a: b":           true, // a name: taken as a header only if no such file
		": value":             false,
		"Bad Name: value":     false,
		"Zoë: value":          false,
		"C:\\path\\file.txt":  false,
		"Subject: two\nlines": true,
	} {
		if got := isHeaderLine(arg); got != want {
			t.Errorf("isHeaderLine(%q) = %v, want %v", arg, got, want)
		}
	}
}

// -a "Name: value" naming no file is a header line; a file of that name
// is attached; with attachments a given Content-Type is left out.
func TestAttachHeaderLine(t *testing.T) {
	h := newHome(t)
	if _, e, code := h.mail(t, "body\n", "-a", "X-Report: nightly", "-a", "From: Ops <ops@example.org>", "-s", "hdr", "root"); code != 0 {
		t.Fatal(e)
	}
	q := h.only(t)
	if q.msg.Header.Get("X-Report") != "nightly" || q.msg.Header.Get("From") != "Ops <ops@example.org>" || q.sender == "ops@example.org" {
		t.Errorf("sender %q, header:\n%s", q.sender, q.raw)
	}
	if n := strings.Count(q.raw, "\nFrom:") + strings.Count(q.raw[:5], "From:"); n != 1 {
		t.Errorf("%d From fields:\n%s", n, q.raw)
	}
	os.Remove(h.path(".local/state/homepost/outbox/new/" + firstName(t, h.path(".local/state/homepost/outbox/new"))))

	file := h.path("X-Named: like a header")
	if err := os.WriteFile(file, []byte("attached\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, e, code := h.mail(t, "body\n", "-a", "X-Named: like a header", "-a", "Content-Type: text/html", "-r", "me@example.org", "-a", "From: other@example.org", "root"); code != 0 {
		t.Fatal(e)
	}
	q = h.only(t)
	if !strings.HasPrefix(q.msg.Header.Get("Content-Type"), "multipart/mixed") || !strings.Contains(q.raw, `filename="X-Named: like a header"`) ||
		q.msg.Header.Get("X-Named") != "" || q.sender != "me@example.org" || q.msg.Header.Get("From") != "other@example.org" {
		t.Errorf("sender %q:\n%s", q.sender, q.raw)
	}
}

func firstName(t *testing.T, dir string) string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil || len(entries) == 0 {
		t.Fatalf("%s: %v", dir, err)
	}
	return entries[0].Name()
}

// FuzzAddRecipients: splitting a recipient argument never yields an
// empty recipient or one holding a line break.
func FuzzAddRecipients(f *testing.F) {
	f.Add("nu1 nu2")
	f.Add(`"Doe, J" <j@example.org>, a@x b@x (Al Bo)`)
	f.Add("Zoë Doe <zoe@x>,\n y@x")
	f.Fuzz(func(t *testing.T, arg string) {
		for _, r := range addRecipients(nil, arg) {
			if strings.TrimSpace(r) == "" || strings.ContainsAny(r, "\r\n") {
				t.Errorf("addRecipients(%q) gives %q", arg, r)
			}
		}
	})
}
