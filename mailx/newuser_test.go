package mailx

import (
	"bytes"
	"slices"
	"strings"
	"testing"
)

// A mailbox that is not there is reported as mailx reports it.
func TestMissingMailboxMessage(t *testing.T) {
	h := newHome(t)
	_, stderr, code := h.mail(t, "", "-f", "/nonexistent/box")
	if stderr != "homepost: mail: /nonexistent/box: No such file or directory\n" || code != exNoInput {
		t.Errorf("exit %d, %q", code, stderr)
	}
}

// A recipient argument names several recipients, separated by blanks or
// commas; an address with a display name stays whole.
func TestRecipientArgumentSplit(t *testing.T) {
	h := newHome(t)
	if _, stderr, code := h.mail(t, "body\n", "-s", "x", "-c", "c1@example.org c2@example.org", "nu1 nu2",
		"Zoë Doe <zoe@example.org>, x@example.org"); code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	q := h.only(t)
	if len(q.rcpts) != 6 {
		t.Errorf("recipients %q", q.rcpts)
	}
	to, cc := q.msg.Header.Get("To"), q.msg.Header.Get("Cc")
	if !strings.HasPrefix(to, "nu1, nu2, ") || !strings.HasSuffix(to, "<zoe@example.org>, x@example.org") ||
		cc != "c1@example.org, c2@example.org" {
		t.Errorf("To %q, Cc %q", to, cc)
	}
	for arg, want := range map[string][]string{
		"nu1 nu2":              {"nu1", "nu2"},
		" a@x,b@x  c@x ":       {"a@x", "b@x", "c@x"},
		"Zoë Doe <zoe@x>, y@x": {"Zoë Doe <zoe@x>", "y@x"},
		"a@x (Al Bo)":          {"a@x (Al Bo)"},
		`"Doe, J" <j@x> , k@x`: {`"Doe, J" <j@x>`, "k@x"},
	} {
		if got := addRecipients(nil, arg); !slices.Equal(got, want) {
			t.Errorf("addRecipients(%q) = %q, want %q", arg, got, want)
		}
	}
}

// mail -H says when there is no mail, as mail without -H does; with
// mail it marks the current message.
func TestHeadersOnly(t *testing.T) {
	h := newHome(t)
	out, stderr, code := h.mail(t, "", "-H")
	if out != "" || !strings.HasPrefix(stderr, "No mail for ") || code != 1 {
		t.Errorf("mail -H without mail: exit %d, %q, %q", code, out, stderr)
	}
	deliverFixtures(t, h.path("Maildir"), 3)
	out, _, code = h.mail(t, "", "-H")
	lines := strings.Split(strings.TrimRight(out, "\n"), "\n")
	if code != 0 || len(lines) != 3 || !strings.HasPrefix(lines[0], ">N  1 ") || !strings.HasPrefix(lines[1], " N  2 ") {
		t.Errorf("mail -H: exit %d\n%s", code, out)
	}
}

// The help listing groups the commands: every command that is not
// another's other name once, under a heading.
func TestHelpGroups(t *testing.T) {
	var b bytes.Buffer
	writeHelp(&b)
	text := b.String()
	for _, c := range commands {
		n := strings.Count(text, "\n  "+c.name+" ")
		if strings.Contains(c.help, "same as") {
			continue
		}
		if n != 1 {
			t.Errorf("%q listed %d times", c.name, n)
		}
	}
	last := 0
	for _, g := range helpGroups {
		i := strings.Index(text, "\n"+g.title+":\n")
		if i < last {
			t.Errorf("heading %q missing or out of order", g.title)
		}
		last = i
		for _, name := range g.names {
			if c := lookupExact(name); c == nil || strings.Contains(c.help, "same as") {
				t.Errorf("group %q names %q, not a command of its own", g.title, name)
			}
		}
	}
	if strings.Contains(text[strings.Index(text, "\nOther:\n"):], "\n  next ") {
		t.Error("next is under Other")
	}
}

// In a terminal too short for it, ? goes through the pager.
func TestHelpPaged(t *testing.T) {
	h := newHome(t)
	deliverFixtures(t, h.path("Maildir"), 1)
	tm := startTerm(t, h)
	tm.waitFor("& ", 1)
	tm.command(`set PAGER="sed s/^/paged:/"`)
	s := tm.command("?")
	if !strings.Contains(s, "paged:Reading:") || !strings.Contains(s, "paged:  next ") {
		t.Errorf("help not paged:\n%s", s)
	}
}
