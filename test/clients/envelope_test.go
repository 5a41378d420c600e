package clients

import (
	"testing"
)

// Each client's way to set the envelope sender (which becomes
// Return-Path and where bounces go) reaches homepost: PHP's fifth mail()
// argument, s-nail's -r, mutt's use_envelope_from, git send-email's
// --envelope-sender.
func TestEnvelopeSenderFromClients(t *testing.T) {
	for _, tc := range []struct {
		name, prog, sender string
		send               func(e *env)
	}{
		{"php", "php", "bounce@example.org", func(e *env) {
			if out := e.php(`var_export(mail("root", "envelope", "b", "From: shop@example.org", "-fbounce@example.org"));`); out != "true" {
				e.t.Fatalf("mail() returned %s", out)
			}
		}},
		{"s-nail", "s-nail", "ada@example.org", func(e *env) {
			e.snail("b\n", "-Smta="+bin("sendmail"), "-r", "Ada <ada@example.org>", "-s", "envelope", "root")
		}},
		{"mutt", "mutt", "bo@example.org", func(e *env) {
			e.muttSend("b\n", `set hostname=testhost.example use_envelope_from from="Bo <bo@example.org>"`, "-s", "envelope", "root")
		}},
		{"git", "git", "patches@example.org", func(e *env) {
			needSendEmail(e.t)
			g := newGitWorld(e)
			g.sendEmail("--envelope-sender", "--smtp-server="+bin("sendmail"), "--envelope-sender=patches@example.org", "--to=root")
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			need(t, tc.prog)
			e := newEnv(t, "")
			tc.send(e)
			e.deliver()
			msgs := e.maildir()
			if len(msgs) != 1 {
				t.Fatalf("want 1 message, got %d", len(msgs))
			}
			if got := msgs[0].header("Return-Path"); got != "<"+tc.sender+">" {
				t.Errorf("Return-Path %q, want <%s>\n%s", got, tc.sender, msgs[0].rawHeader())
			}
		})
	}
}
