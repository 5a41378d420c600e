package tools

import (
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

// manFlags reads the flags that sendmail(8) lists under .It, as the
// argument words a caller would pass: "-B value", "-oQ".
func manFlags(t *testing.T) [][]string {
	_, here, _, _ := runtime.Caller(0)
	data, err := os.ReadFile(filepath.Join(filepath.Dir(here), "..", "..", "man", "sendmail.8"))
	if err != nil {
		t.Fatal(err)
	}
	var out [][]string
	for _, line := range strings.Split(string(data), "\n") {
		rest, ok := strings.CutPrefix(line, ".It Fl ")
		if !ok {
			continue
		}
		// ".It Fl f Ar sender , Fl r Ar sender" lists two flags.
		for _, item := range strings.Split(rest, " , Fl ") {
			w := strings.Fields(item)
			if len(w) == 0 {
				continue
			}
			args := []string{"-" + w[0]}
			switch {
			case len(w) >= 3 && w[1] == "Ns":
				args[0] += "x"
			case len(w) >= 2 && w[1] == "Ar":
				args = append(args, "value")
			}
			out = append(out, args)
		}
	}
	if len(out) < 20 {
		t.Fatalf("only %d flags found in sendmail(8)", len(out))
	}
	return out
}

// TestSendmailFlagsOfManPage runs sendmail with every flag that its man
// page says is accepted: none may be refused.
func TestSendmailFlagsOfManPage(t *testing.T) {
	e := newEnv(t)
	msg := "To: someone@example.org\nSubject: flags\n\nbody\n"
	n := 0
	for _, args := range manFlags(t) {
		f := args[0]
		switch {
		case strings.HasPrefix(f, "-b") && f != "-bm", strings.HasPrefix(f, "-q"), f == "--", f == "-I":
			continue // modes that do something else; tested elsewhere
		case f == "-f" || f == "-r":
			args[1] = "sender@example.org"
		case f == "-F":
			args[1] = "Some Body"
		case f == "-N":
			args[1] = "never"
		case f == "-R":
			args[1] = "hdrs"
		case f == "-h":
			args[1] = "3"
		}
		argv := append([]string{"sendmail"}, args...)
		argv = append(argv, "someone@example.org")
		_, errOut, code := e.run(msg, argv...)
		if code != 0 {
			t.Errorf("sendmail %v: exit %d: %s", args, code, errOut)
		}
		n++
	}
	t.Logf("%d flags of sendmail(8) accepted", n)
	if got := len(e.queue()); got != n {
		t.Errorf("%d messages queued for %d flag runs", got, n)
	}
	for _, mode := range []string{"-bd", "-bD", "-bt", "-ba", "-bh", "-bH", "-bP"} {
		if _, _, code := e.run(msg, "sendmail", mode); code != 64 {
			t.Errorf("sendmail %s: exit %d, want 64 as sendmail(8) says", mode, code)
		}
	}
}

// TestCommandsInManPage checks that homepost(1) documents every command
// that homepost --help lists, and lists no command that does not exist.
func TestCommandsInManPage(t *testing.T) {
	_, here, _, _ := runtime.Caller(0)
	page, err := os.ReadFile(filepath.Join(filepath.Dir(here), "..", "..", "man", "homepost.1"))
	if err != nil {
		t.Fatal(err)
	}
	documented := map[string]bool{}
	for _, line := range strings.Split(string(page), "\n") {
		if rest, ok := strings.CutPrefix(line, ".It Ic "); ok {
			documented[strings.Fields(rest)[0]] = true
		}
	}
	e := newEnv(t)
	out, _, code := e.run("", "--help")
	if code != 0 {
		t.Fatalf("homepost --help: exit %d", code)
	}
	listed := map[string]bool{}
	inCommands := false
	for _, line := range strings.Split(out, "\n") {
		switch {
		case strings.HasPrefix(line, "Commands:"):
			inCommands = true
		case inCommands && strings.HasPrefix(line, "  "):
			listed[strings.Fields(line)[0]] = true
		case inCommands && strings.TrimSpace(line) == "":
			inCommands = false
		}
	}
	if len(listed) < 5 {
		t.Fatalf("no commands found in homepost --help:\n%s", out)
	}
	for c := range listed {
		if !documented[c] {
			t.Errorf("homepost(1) does not document the command %q", c)
		}
	}
	for c := range documented {
		if !listed[c] {
			t.Errorf("homepost(1) documents %q, which homepost --help does not list", c)
		}
	}
}
