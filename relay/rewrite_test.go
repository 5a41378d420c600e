package relay

import (
	"bufio"
	"bytes"
	"strings"
	"testing"
)

func TestRewriteFrom(t *testing.T) {
	cfg := testConfig(t, "")
	cfg.Relay.From = "alice@example.com"
	c := newClient(t, cfg)
	for _, tc := range []struct{ in, want string }{
		// Local addresses, in the forms that cron, mailx and scripts write.
		{"From: root (Cron Daemon)\n", "From: Cron Daemon <alice@example.com>\n"},
		{"From: alice\n", "From: alice@example.com\n"},
		{"From: alice@localhost\n", "From: alice@example.com\n"},
		{"From: alice@LAPTOP\n", "From: alice@example.com\n"},
		{"From: Alice Liddell <alice@laptop>\n", "From: Alice Liddell <alice@example.com>\n"},
		{"From: \"Liddell, Alice\" <alice>\n", "From: \"Liddell, Alice\" <alice@example.com>\n"},
		{"From: =?utf-8?q?J=C3=B6rg?= <joerg@laptop>\n", "From: =?utf-8?q?J=C3=B6rg?= <alice@example.com>\n"},
		{"FROM: Alice\n\t<alice@laptop>\n", "FROM: Alice\n\t<alice@example.com>\n"},
		{"From: Alice <alice@laptop>\r\n", "From: Alice <alice@example.com>\r\n"},
		{"From: alice@laptop (Alice)\n", "From: Alice <alice@example.com>\n"},
		// An address literal naming this machine is local too.
		{"From: root@[127.0.0.1]\n", "From: alice@example.com\n"},
		{"From: Alice <alice@[::1]>\n", "From: Alice <alice@example.com>\n"},
		// Not local, not one address, or not parseable: untouched.
		{"From: bob@example.org\n", ""},
		{"From: Bob <bob@example.org>\n", ""},
		{"From: bob@[192.0.2.254]\n", ""},
		{"From: alice@laptop, bob@laptop\n", ""},
		{"From: <>\n", ""},
		{"From: \n", ""},
		{"From: a b c <<<\n", ""},
		{"X-From: alice\n", ""},
	} {
		head := tc.in + "Subject: x\n\n"
		want := tc.want + "Subject: x\n\n"
		if tc.want == "" {
			want = head
		}
		for _, prefix := range []string{"", "Received: by x\n\tfor <alice@laptop>; now\n"} {
			got := string(c.rewriteFrom([]byte(prefix + head)))
			if got != prefix+want {
				t.Errorf("%q:\n got %q\nwant %q", prefix+head, got, prefix+want)
			}
		}
	}
	// Only the first From field.
	got := string(c.rewriteFrom([]byte("From: alice\nFrom: root\n\n")))
	if got != "From: alice@example.com\nFrom: root\n\n" {
		t.Errorf("two From fields: %q", got)
	}
	// A From in the body is not a header field.
	in := "Subject: x\n\nFrom: alice\n"
	if got := string(c.rewriteFrom([]byte(in))); got != in {
		t.Errorf("body From rewritten: %q", got)
	}
	// No from setting: nothing changes.
	c.from = ""
	if got := string(c.rewriteFrom([]byte("From: alice\n\n"))); got != "From: alice\n\n" {
		t.Errorf("rewrote without from: %q", got)
	}
}

func TestReadHead(t *testing.T) {
	for _, tc := range []struct{ in, head string }{
		{"A: 1\nB: 2\n\nbody\n", "A: 1\nB: 2\n\n"},
		{"A: 1\r\n\r\nbody\r\n", "A: 1\r\n\r\n"},
		{"A: 1\n", "A: 1\n"},
		{"", ""},
		{"\nbody", "\n"},
	} {
		br := bufio.NewReaderSize(strings.NewReader(tc.in), 16)
		head, err := readHead(br)
		if err != nil || string(head) != tc.head {
			t.Errorf("%q: head %q, %v", tc.in, head, err)
		}
		var rest bytes.Buffer
		rest.ReadFrom(br)
		if string(head)+rest.String() != tc.in {
			t.Errorf("%q: bytes lost", tc.in)
		}
	}
	// A header larger than the limit is cut at the limit, nothing lost.
	long := strings.Repeat("X-Long: "+strings.Repeat("y", 1000)+"\n", 2000) + "\nbody\n"
	br := bufio.NewReader(strings.NewReader(long))
	head, _ := readHead(br)
	var rest bytes.Buffer
	rest.ReadFrom(br)
	if len(head) < maxHead || string(head)+rest.String() != long {
		t.Errorf("long header: %d bytes of head", len(head))
	}
}

// FuzzRewriteFrom: rewriting never panics and touches nothing but the
// first From field.
func FuzzRewriteFrom(f *testing.F) {
	for _, s := range []string{
		"From: root (Cron Daemon)\nTo: root\n\nbody\n",
		"From: Alice <alice@laptop>\r\n\r\n",
		"From: \"a\\\" <b\" <alice>\n\n",
		"From:\n\t<alice>\n\n",
		"Subject: no from\n\n",
		"From: <<>>@<>\n\n",
		"\n\nFrom: alice\n",
	} {
		f.Add(s)
	}
	cfg := testConfig(f, "")
	cfg.Relay.From = "alice@example.com"
	c := newClient(f, cfg)
	f.Fuzz(func(t *testing.T, in string) {
		out := string(c.rewriteFrom([]byte(in)))
		if out == in {
			return
		}
		start, end := findField([]byte(in), "From")
		if start < 0 {
			t.Fatalf("rewrote a header without a From field: %q -> %q", in, out)
		}
		if !strings.HasPrefix(out, in[:start]) || !strings.HasSuffix(out, in[end:]) {
			t.Fatalf("bytes outside the From field changed: %q -> %q", in, out)
		}
		if !strings.Contains(out[start:len(out)-(len(in)-end)], "alice@example.com") {
			t.Fatalf("rewritten field lacks the address: %q", out)
		}
	})
}
