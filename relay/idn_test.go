package relay

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/emersion/go-smtp"

	"homepost/courier"
	"homepost/outbox"
)

func TestASCIIPath(t *testing.T) {
	for _, c := range []struct {
		in, want string
		local    bool   // refused for its local part
		why      string // refused for its domain, with this in the reason
	}{
		{in: "user@example.org", want: "user@example.org"},
		{in: "", want: ""},
		{in: "postmaster", want: "postmaster"},
		{in: "user@bücher.example", want: "user@xn--bcher-kva.example"},
		// The mapping of a lookup: case and width folded, NFC.
		{in: "User@BÜCHER.Example", want: "User@xn--bcher-kva.example"},
		{in: "user@bu\u0308cher.example", want: "user@xn--bcher-kva.example"},
		{in: "user@ｂücher.example", want: "user@xn--bcher-kva.example"},
		// Nontransitional: ß stays ß.
		{in: "user@straße.example", want: "user@xn--strae-oqa.example"},
		{in: "user@пример.рф", want: "user@xn--e1afmkfd.xn--p1ai"},
		{in: "user@例え.テスト", want: "user@xn--r8jz45g.xn--zckzah"},
		// An ideographic full stop separates labels too.
		{in: "user@例え。テスト", want: "user@xn--r8jz45g.xn--zckzah"},
		// A quoted local part may hold an @; the domain follows the last.
		{in: `"a@b"@bücher.example`, want: `"a@b"@xn--bcher-kva.example`},
		{in: `"john doe"@bücher.example`, want: `"john doe"@xn--bcher-kva.example`},
		{in: "jörg@example.org", local: true},
		{in: "jörg@bücher.example", local: true},
		{in: `"x@ü"@example.org`, local: true},
		{in: "ü", local: true},
		{in: "user@bücher..example", why: "has no ASCII form"},
		{in: "user@-bücher.example", why: "has no ASCII form"},
		{in: "user@bü_cher.example", why: "has no ASCII form"},
		{in: "user@bücher\u200d.example", why: "has no ASCII form"},
		{in: "user@" + strings.Repeat("ü", 64) + ".example", why: "has no ASCII form"},
		{in: "user@\xff\xfe.example", why: "has no ASCII form"},
		{in: "user@[bücher]", why: "address literal"},
		{in: "user@[ü\xff]", why: "not valid UTF-8"},
	} {
		got, err := asciiPath(c.in)
		switch {
		case c.local:
			if !errors.Is(err, errUTF8Local) {
				t.Errorf("asciiPath(%q) = %q, %v; want errUTF8Local", c.in, got, err)
			}
		case c.why != "":
			if err == nil || errors.Is(err, errUTF8Local) || !strings.Contains(err.Error(), c.why) {
				t.Errorf("asciiPath(%q) = %q, %v; want an error saying %q", c.in, got, err, c.why)
			}
		case err != nil || got != c.want:
			t.Errorf("asciiPath(%q) = %q, %v; want %q", c.in, got, err, c.want)
		}
	}
}

// asciiPath never panics; what it returns is ASCII, keeps the local
// part as it was, and leaves an ASCII address alone.
func FuzzASCIIPath(f *testing.F) {
	for _, s := range []string{"user@bücher.example", "jörg@example.org", `"a@b"@straße.example`,
		"user@bücher..example", "user@xn--bcher-kva.example", "user@xn--a.example", "user@[ü]", "@ü", "ü@", "user@ü\xff"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		got, err := asciiPath(in)
		if err != nil {
			if got != "" {
				t.Errorf("asciiPath(%q) = %q with error %v", in, got, err)
			}
			return
		}
		if !ascii(got) {
			t.Errorf("asciiPath(%q) = %q, not ASCII", in, got)
		}
		if ascii(in) && got != in {
			t.Errorf("asciiPath(%q) = %q, changed an ASCII address", in, got)
		}
		at := strings.LastIndexByte(in, '@')
		if at >= 0 && !strings.HasPrefix(got, in[:at+1]) {
			t.Errorf("asciiPath(%q) = %q, changed the local part", in, got)
		}
	})
}

// To a smarthost that does not offer SMTPUTF8, an address whose domain
// alone is in UTF-8 goes with the domain in A-labels, in MAIL FROM and
// RCPT TO; the results name the address as given and say what went.
// A local part in UTF-8, or a domain with no A-labels, still bounces
// with 5.6.7 and the reason. It bounced every address in UTF-8.
func TestIDNWithoutSMTPUTF8(t *testing.T) {
	be := &backend{noUTF8: true}
	addr := startServer(t, be, plainMode, nil)
	c := newClient(t, testConfig(t, "smtp://"+addr))
	msg := "From: me@bücher.example\nTo: user@bücher.example\nSubject: grüße\n\nhi\n"
	res := c.Send(context.Background(), []*courier.Outgoing{
		outgoing("A1", "me@bücher.example", msg,
			"user@bücher.example", "jörg@example.org", "Other@BÜCHER.example", "x@bü_cher.example", "plain@example.org"),
	})
	status(t, res[0], outbox.Sent, outbox.Bounced, outbox.Sent, outbox.Bounced, outbox.Sent)
	got := be.received()
	if len(got) != 1 {
		t.Fatalf("%+v", got)
	}
	if got[0].From != "me@xn--bcher-kva.example" {
		t.Errorf("MAIL FROM:<%s>, want <me@xn--bcher-kva.example>", got[0].From)
	}
	if want := []string{"user@xn--bcher-kva.example", "Other@xn--bcher-kva.example", "plain@example.org"}; !slices.Equal(got[0].Rcpts, want) {
		t.Errorf("RCPT TO %q, want %q", got[0].Rcpts, want)
	}
	if got[0].UTF8 {
		t.Error("MAIL declared SMTPUTF8 to a server that does not offer it")
	}
	// The header fields go as they are, as 8-bit text does.
	if string(got[0].Data) != string(crlf(msg)) {
		t.Errorf("data:\n%s", got[0].Data)
	}
	if r := res[0][0].Text(); !strings.HasPrefix(r, "2.0.0 host 127.0.0.1 said: 250 ") ||
		!strings.HasSuffix(r, " (sent as user@xn--bcher-kva.example: host 127.0.0.1 does not support SMTPUTF8)") {
		t.Errorf("user@bücher.example: %s", r)
	}
	if r, want := res[0][1].Text(), "5.6.7 host 127.0.0.1 does not support SMTPUTF8, needed for jörg@example.org"; r != want {
		t.Errorf("jörg@example.org: %s, want %s", r, want)
	}
	if r := res[0][3].Text(); !strings.HasPrefix(r, "5.6.7 host 127.0.0.1 does not support SMTPUTF8, needed for x@bü_cher.example: its domain bü_cher.example has no ASCII form (A-labels): idna: ") {
		t.Errorf("x@bü_cher.example: %s", r)
	}
	if r := res[0][4].Text(); strings.Contains(r, "sent as") {
		t.Errorf("plain@example.org: %s", r)
	}

	// A refusal of the recipient says what the server was given.
	be.rcptErr = map[string]error{"user@xn--bcher-kva.example": &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 1, 1}, Message: "no such user"}}
	res = c.Send(context.Background(), []*courier.Outgoing{outgoing("A2", "", "Subject: x\n\nhi\n", "user@bücher.example")})
	if r, want := res[0][0].Text(), "5.1.1 host 127.0.0.1 said: 550 5.1.1 no such user (in reply to RCPT TO command) (sent as user@xn--bcher-kva.example: host 127.0.0.1 does not support SMTPUTF8)"; r != want {
		t.Errorf("refused: %s\nwant %s", r, want)
	}

	// A sender refused names the form sent.
	be.mailErr = &smtp.SMTPError{Code: 553, EnhancedCode: smtp.EnhancedCode{5, 7, 1}, Message: "not yours"}
	res = c.Send(context.Background(), []*courier.Outgoing{outgoing("A3", "me@bücher.example", "Subject: x\n\nhi\n", "plain@example.org")})
	if r := res[0][0].Text(); !strings.Contains(r, "MAIL FROM:<me@xn--bcher-kva.example>") {
		t.Errorf("sender refused: %s", r)
	}
	be.mailErr = nil

	// A sender that has no ASCII form bounces every recipient, and
	// nothing is sent.
	n := len(be.received())
	res = c.Send(context.Background(), []*courier.Outgoing{
		outgoing("A4", "jörg@example.org", "Subject: x\n\nhi\n", "plain@example.org", "user@bücher.example"),
		outgoing("A5", "me@bü_cher.example", "Subject: x\n\nhi\n", "plain@example.org"),
	})
	status(t, res[0], outbox.Bounced, outbox.Bounced)
	status(t, res[1], outbox.Bounced)
	if r, want := res[0][0].Text(), "5.6.7 host 127.0.0.1 does not support SMTPUTF8, needed for sender jörg@example.org"; r != want {
		t.Errorf("sender jörg@: %s, want %s", r, want)
	}
	if r := res[1][0].Text(); !strings.HasPrefix(r, "5.6.7 host 127.0.0.1 does not support SMTPUTF8, needed for sender me@bü_cher.example: its domain bü_cher.example has no ASCII form") {
		t.Errorf("sender me@bü_cher.example: %s", r)
	}
	if len(be.received()) != n {
		t.Errorf("sent with a sender in UTF-8: %+v", be.received()[n:])
	}
}

// To a smarthost that offers SMTPUTF8 nothing changes: the addresses
// go in UTF-8 as given, with SMTPUTF8 declared.
func TestIDNWithSMTPUTF8(t *testing.T) {
	be := &backend{}
	addr := startServer(t, be, plainMode, nil)
	c := newClient(t, testConfig(t, "smtp://"+addr))
	res := c.Send(context.Background(), []*courier.Outgoing{
		outgoing("A1", "me@bücher.example", "Subject: x\n\nhi\n", "user@bücher.example", "jörg@example.org"),
	})
	status(t, res[0], outbox.Sent, outbox.Sent)
	got := be.received()
	if len(got) != 1 || !got[0].UTF8 || got[0].From != "me@bücher.example" ||
		!slices.Equal(got[0].Rcpts, []string{"user@bücher.example", "jörg@example.org"}) {
		t.Fatalf("%+v", got)
	}
	if r := res[0][0].Text(); strings.Contains(r, "sent as") {
		t.Errorf("%s", r)
	}
}
