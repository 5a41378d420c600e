package relay

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"homepost/courier"
	"homepost/outbox"
)

func TestQualifyList(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{" nu1\n", " nu1@d.example\n"},
		{" nu1, nu2\n", " nu1@d.example, nu2@d.example\n"},
		{" Bob <bob>, nu1 (Nu One),\n\tcarol@example.org\n", " Bob <bob@d.example>, nu1@d.example (Nu One),\n\tcarol@example.org\n"},
		{" \"Liddell, Alice\" <alice>\r\n", " \"Liddell, Alice\" <alice@d.example>\r\n"},
		{" =?utf-8?q?J=C3=B6rg?= < joerg >\n", " =?utf-8?q?J=C3=B6rg?= < joerg@d.example >\n"},
		{" \"a b\"\n", " \"a b\"@d.example\n"},
		{" friends: nu1, Bob <bob>;, carol\n", " friends: nu1@d.example, Bob <bob@d.example>;, carol@d.example\n"},
		{" first.last\n", " first.last@d.example\n"},
		// Comments (CFWS) wherever white space may be, kept as they are.
		{" (Kommentar) qual6\n", " (Kommentar) qual6@d.example\n"},
		{" Taro <qual5>, (Kommentar) qual6\n", " Taro <qual5@d.example>, (Kommentar) qual6@d.example\n"},
		{" <(c) qual5 (d)>, (a)qual6(b)\n", " <(c) qual5@d.example (d)>, (a)qual6@d.example(b)\n"},
		{" \"a (b\" (c \\) (d)) <nu1>,\n (x\n y) nu2\n", " \"a (b\" (c \\) (d)) <nu1@d.example>,\n (x\n y) nu2@d.example\n"},
		// Nothing unqualified, or nothing that is plainly an address.
		{" undisclosed-recipients:;\n", ""},
		{" bob@example.org\n", ""},
		{" <>\n", ""},
		{" John Smith\n", ""},
		{" <@route:bob>\n", ""},
		{" a b c <<<\n", ""},
		{" (just a comment)\n", ""},
		{"\n", ""},
	} {
		want := tc.want
		if want == "" {
			want = tc.in
		}
		got, changed := qualifyList([]byte(tc.in), "d.example")
		if string(got) != want || changed != (tc.want != "") {
			t.Errorf("%q: got %q (%v), want %q", tc.in, got, changed, want)
		}
	}
}

// TestRewriteQualifies: To, Cc, Reply-To and From lose their
// unqualified addresses on the way to the smarthost, with the domain of
// relay.from, else the host name; nothing else in the header changes.
func TestRewriteQualifies(t *testing.T) {
	head := "Received: from nu1 by laptop\nFrom: nu1\nTo: remoteme\nCc: nu1,\n  Bob <bob>\nReply-To: Me <me>\nBcc-Like: x\nX-To: nu2\nSubject: to nu1\n\n"
	cfg := testConfig(t, "")
	c := newClient(t, cfg)
	want := "Received: from nu1 by laptop\nFrom: nu1@laptop\nTo: remoteme@laptop\nCc: nu1@laptop,\n  Bob <bob@laptop>\nReply-To: Me <me@laptop>\nBcc-Like: x\nX-To: nu2\nSubject: to nu1\n\n"
	if got := string(c.rewrite([]byte(head))); got != want {
		t.Errorf("without relay.from:\n got %q\nwant %q", got, want)
	}
	cfg.Relay.From = "me@example.com"
	c = newClient(t, cfg)
	want = strings.ReplaceAll(want, "@laptop", "@example.com")
	want = strings.Replace(want, "From: nu1@example.com", "From: me@example.com", 1)
	if got := string(c.rewrite([]byte(head))); got != want {
		t.Errorf("with relay.from:\n got %q\nwant %q", got, want)
	}
}

// A comment before an address does not keep the field from being
// qualified: "Cc: (Kommentar) qual6" went out as it was, and so did
// every address of a field with one, where "qual6 (Kommentar)" got its
// domain. Comments and every other byte stay.
func TestQualifyFieldWithComments(t *testing.T) {
	for in, want := range map[string]string{
		"(Kommentar) qual6":                                   "(Kommentar) qual6@d.example",
		"Taro <qual5>, (Kommentar) qual6":                     "Taro <qual5@d.example>, (Kommentar) qual6@d.example",
		"qual6 (Kommentar)":                                   "qual6@d.example (Kommentar)",
		"(a) Taro (b) <(c) qual5 (d)> (e)":                    "(a) Taro (b) <(c) qual5@d.example (d)> (e)",
		"=?utf-8?q?J=C3=B6rg?= < joerg >":                     "=?utf-8?q?J=C3=B6rg?= < joerg@d.example >",
		"\"Müller, (Jürgen)\" <qual5>, (x) y":                 "\"Müller, (Jürgen)\" <qual5@d.example>, (x) y@d.example",
		"(Kommentar)\n\tqual6, (k\n (nested)) Taro\n <qual5>": "(Kommentar)\n\tqual6@d.example, (k\n (nested)) Taro\n <qual5@d.example>",
	} {
		head := "From: me@example.org\nCc: " + in + "\nSubject: s\n\n"
		got := string(qualifyField([]byte(head), "Cc", "d.example"))
		if w := "From: me@example.org\nCc: " + want + "\nSubject: s\n\n"; got != w {
			t.Errorf("Cc: %q\n got %q\nwant %q", in, got, w)
		}
	}
}

// TestRelayQualifiesHeader: what the smarthost receives, as "mail -s x
// remoteme" and "~c nu1" produce it.
func TestRelayQualifiesHeader(t *testing.T) {
	be := &backend{}
	a := startServer(t, be, plainMode, nil)
	cfg := testConfig(t, "smtp://"+a)
	cfg.Relay.From = "me@example.com"
	c := newClient(t, cfg)
	msg := "From: alice\nTo: remoteme\nCc: nu1\nSubject: x\n\nTo: nu1 stays in the body\n"
	res := c.Send(context.Background(), []*courier.Outgoing{outgoing("A1", "alice@laptop", msg, "me@example.com")})
	status(t, res[0], outbox.Sent)
	got := be.received()
	if len(got) != 1 {
		t.Fatalf("server got %d messages", len(got))
	}
	want := crlf("From: me@example.com\nTo: remoteme@example.com\nCc: nu1@example.com\nSubject: x\n\nTo: nu1 stays in the body\n")
	if !bytes.Equal(got[0].Data, want) {
		t.Errorf("server got\n%q\nwant\n%q", got[0].Data, want)
	}
}

// FuzzQualifyList: never a panic; what changes is only insertions of
// "@domain", and the result parses as an address list when it changes.
func FuzzQualifyList(f *testing.F) {
	for _, s := range []string{" nu1\n", " a, \"b c\" <d>, e (f), g:h,i;\n", " <<>>@\n", " (((\n", " \"\\\n", " (c) a, <(d) b (e)>, \"(\" (\\)) c\n", "<(0"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		out, changed := qualifyList([]byte(in), "d.example")
		if !changed {
			if string(out) != in {
				t.Fatalf("unchanged but different: %q -> %q", in, out)
			}
			return
		}
		if strings.ReplaceAll(string(out), "@d.example", "") != strings.ReplaceAll(in, "@d.example", "") {
			t.Fatalf("more than insertions: %q -> %q", in, out)
		}
	})
}
