package mailx

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"unsafe"
)

// sessionSummary is the header summary that read mode shows for a
// mailbox: every message, the current one marked.
func sessionSummary(t *testing.T, kind, path string) string {
	t.Helper()
	box, err := openBox(kind, path, false)
	if err != nil {
		t.Fatal(err)
	}
	defer box.Close()
	var out bytes.Buffer
	s := testSession(box, &out)
	s.setDot()
	writeSummary(&out, box.Msgs, s.dot, 100)
	return out.String()
}

// listed is what mail -H writes for a mailbox.
func listed(t *testing.T, kind, path string) string {
	t.Helper()
	var out bytes.Buffer
	var n int
	var err error
	if kind == "maildir" {
		n, err = maildirHeaders(&out, path, 100)
	} else {
		n, err = mboxHeaders(&out, path, 100)
	}
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Count(out.String(), "\n"); got != n {
		t.Errorf("%d lines for %d messages", got, n)
	}
	return out.String()
}

// mail -H keeps no list, but it must show what read mode shows: the
// same lines, the same current message (first new, else first unread,
// else first), for a Maildir and an mbox in each of those states and
// across the batches it reads a Maildir in.
func TestHeadersAsReadModeShowsThem(t *testing.T) {
	dir := t.TempDir()
	md := filepath.Join(dir, "Maildir")
	for _, sub := range []string{"tmp", "new", "cur"} {
		os.MkdirAll(filepath.Join(md, sub), 0o700)
	}
	for i := 1; i <= 4200; i++ {
		_, h, b := testMessage(i)
		// Written directly: 4200 fsynced deliveries measure the disk.
		if err := os.WriteFile(filepath.Join(md, "new", fmt.Sprintf("%d.M%dP1.test", 1609577400+i, i)), []byte(h+b), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	names, _ := os.ReadDir(filepath.Join(md, "new"))
	// All new; then the first 4100 seen (current: the first new, in
	// the second batch); then all seen but one unread; then all seen.
	states := []func(i int, name string) string{
		func(int, string) string { return "" },
		func(i int, name string) string {
			if i < 4100 {
				return "cur/" + name + ":2,S"
			}
			return ""
		},
		func(i int, name string) string {
			if i == 4150 {
				return "cur/" + name + ":2,"
			}
			return "cur/" + name + ":2,RS"
		},
		func(i int, name string) string { return "cur/" + name + ":2,S" },
	}
	cur := map[string]string{}
	for k, state := range states {
		for i, e := range names {
			from := cur[e.Name()]
			if from == "" {
				from = "new/" + e.Name()
			}
			to := state(i, e.Name())
			if to == "" {
				to = "new/" + e.Name()
			}
			if from != to {
				if err := os.Rename(filepath.Join(md, from), filepath.Join(md, to)); err != nil {
					t.Fatal(err)
				}
			}
			cur[e.Name()] = to
		}
		want, got := sessionSummary(t, "maildir", md), listed(t, "maildir", md)
		if got != want {
			t.Errorf("Maildir, state %d: mail -H differs from read mode", k)
		}
		marked := 0
		for _, l := range strings.Split(got, "\n") {
			if strings.HasPrefix(l, ">") {
				marked++
			}
		}
		if marked != 1 {
			t.Errorf("Maildir, state %d: %d lines marked current", k, marked)
		}
	}

	for k, statuses := range [][]string{
		{"", "", ""},
		{"RO", "O", ""},
		{"RO", "O", "RO"},
		{"RO", "RO", "RO"},
	} {
		var b strings.Builder
		for i, st := range statuses {
			fmt.Fprintf(&b, "From user%d@example.org Sat Jan  2 08:%02d:00 2021\nFrom: User %d <user%d@example.org>\nSubject: Subject %d\n", i, i, i, i, i)
			if st != "" {
				b.WriteString("Status: " + st + "\n")
			}
			b.WriteString("\nBody.\n\n")
		}
		path := filepath.Join(dir, fmt.Sprintf("mbox%d", k))
		os.WriteFile(path, []byte(b.String()), 0o600)
		want, got := sessionSummary(t, "mbox", path), listed(t, "mbox", path)
		if got != want {
			t.Errorf("mbox %q:\n%s\nwant\n%s", statuses, got, want)
		}
	}
}

// FuzzSummary packs arbitrary header fields into a summary: each reads
// back as decodeHeader makes it, and the date column is the From line's
// when it has one.
func FuzzSummary(f *testing.F) {
	f.Add("User <u@example.org>", "=?utf-8?q?caf=C3=A9?=", "RO", "Sat, 2 Jan 2021 08:50:00 +0000", "u@example.org Sat Jan  2 08:50:00 2021")
	f.Add("", "", "", "", "")
	f.Add("\x00\xff", strings.Repeat("x", 300), "O\n", "garbage", "x")
	f.Fuzz(func(t *testing.T, from, subject, status, date, fromLine string) {
		for _, v := range []string{from, subject, status, date} {
			if strings.ContainsAny(v, "\r\n") {
				return
			}
		}
		var h hscan
		h.reset()
		h.line([]byte("From: " + from + "\n"))
		h.line([]byte("Subject: " + subject + "\n"))
		h.line([]byte("Status: " + status + "\n"))
		h.line([]byte("Date: " + date + "\n"))
		var m Msg
		var fl []byte
		if fromLine != "" && !strings.ContainsAny(fromLine, "\r\n") {
			fl = []byte(fromLine)
		}
		m.sum = string(h.summarize(&m, fl, ""))
		trim := func(s string) string { return strings.TrimSpace(s) }
		if got, want := m.from(), decodeHeader(trim(from)); got != want {
			t.Fatalf("from %q, want %q", got, want)
		}
		if got, want := m.subject(), decodeHeader(trim(subject)); got != want {
			t.Fatalf("subject %q, want %q", got, want)
		}
		if got := m.status(); got != trim(status) {
			t.Fatalf("status %q, want %q", got, trim(status))
		}
		if _, d, ok := strings.Cut(fromLine, " "); fl != nil && ok && len(strings.TrimSpace(d)) >= 16 {
			if got := m.summaryDate(); got != strings.TrimSpace(d)[:16] {
				t.Fatalf("date column %q for From line %q", got, fromLine)
			}
		}
	})
}

// FuzzWords: where appendWords decodes a header value itself, it gives
// what package mime's DecodeHeader gives.
func FuzzWords(f *testing.F) {
	for _, s := range []string{
		"Report 5: =?utf-8?q?r=C3=A9sum=C3=A9?= of the day",
		"=?ISO-8859-1?Q?caf=E9?= =?us-ascii?b?aGVsbG8=?=  =?UTF-8?B?w6k=?=",
		"=?utf-8?q?a_b?==?utf-8?q?c?= x =?utf-8?x?bad?= =?utf-8?q?=ZZ?= =?koi8-r?b?wcI=?=",
		"=?utf-8?b?not base64?= =?utf-8?q?\x01?= =??q?x?= =?utf-8?q?",
		"plain", "",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got, _, ok := appendWords(nil, nil, s)
		if !ok {
			return
		}
		want, err := wordDecoder.DecodeHeader(s)
		if err != nil || string(got) != want {
			t.Fatalf("%q: %q, mime gives %q (%v)", s, got, want, err)
		}
	})
}

// A summary is 64 bytes: 100,000 of them are most of what a session on a
// big mailbox holds.
func TestMsgSize(t *testing.T) {
	if n := unsafe.Sizeof(Msg{}); n > 64 {
		t.Errorf("Msg is %d bytes", n)
	}
}
