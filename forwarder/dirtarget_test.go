package forwarder

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// makeMaildir makes dir with cur/, new/ and tmp/.
func makeMaildir(t *testing.T, dir string) {
	t.Helper()
	for _, sub := range []string{"cur", "new", "tmp"} {
		if err := os.MkdirAll(filepath.Join(dir, sub), 0o700); err != nil {
			t.Fatal(err)
		}
	}
}

// A file target written without its trailing '/' that names an existing
// Maildir (a directory with cur/, new/ and tmp/, as mail(1) reads one)
// is that Maildir, not an mbox that could never be opened; ~/Maildir
// so written is the store. A directory that is no Maildir stays an mbox
// target (the courier defers it, saying what to write), and resolve,
// Check (homepost check, newaliases) and the agent's log when it reads
// the files name its line.
func TestFileTargetThatIsADirectory(t *testing.T) {
	e := newEnv(t, "")
	e.system("")
	makeMaildir(t, e.path("lists"))
	makeMaildir(t, e.path("Maildir"))
	if err := os.Mkdir(e.path("plain"), 0o700); err != nil {
		t.Fatal(err)
	}
	e.user(".forward", e.path("lists")+"\n~/plain\n~/mbox\n~/Maildir\n~/box/\n", 0o600)
	e.user(".config/homepost/aliases", "lists: ~/lists\njunk: ~/plain, ~/plain/\n", 0o600)

	want := []string{"~/lists/", "~/plain", "~/mbox", `\alice`, "~/box/"}
	if got := e.resolve("alice"); !slices.Equal(got, want) {
		t.Errorf("alice -> %q, want %q", got, want)
	}
	if got := e.resolve("lists"); !slices.Equal(got, []string{"~/lists/"}) {
		t.Errorf("lists -> %q", got)
	}
	if got := e.resolve("junk"); !slices.Equal(got, []string{"~/plain", "~/plain/"}) {
		t.Errorf("junk -> %q", got)
	}
	var trace []string
	e.f.Explain("alice", nil, func(_ int, msg string) { trace = append(trace, msg) })
	text := strings.ReplaceAll(strings.Join(trace, "\n"), e.home, "~")
	for _, w := range []string{
		"~/.forward:1: -> Maildir ~/lists/ (a directory with cur/, new/ and tmp/)",
		"warning: ~/.forward:2: ~/plain is a directory but not a Maildir: end the line with '/' to make it one",
	} {
		if !strings.Contains(text, w) {
			t.Errorf("resolve trace lacks %q:\n%s", w, text)
		}
	}

	reports, errs := Check(e.cfg)
	if len(errs) != 0 {
		t.Errorf("errors %v: a directory target is a warning", errs)
	}
	got := map[string][]string{}
	for _, r := range reports {
		for _, w := range r.Warnings {
			got[r.Kind] = append(got[r.Kind], strings.ReplaceAll(w.Error(), e.home, "~"))
		}
	}
	wantWarn := map[string][]string{
		KindForward: {"~/.forward:2: ~/plain is a directory but not a Maildir: end the line with '/' to make it one; mail to it waits in the queue"},
		KindAliases: {"~/.config/homepost/aliases:2: ~/plain is a directory but not a Maildir: end the line with '/' to make it one; mail to it waits in the queue"},
	}
	for k, w := range wantWarn {
		if !slices.Equal(got[k], w) {
			t.Errorf("%s warnings %q, want %q", k, got[k], w)
		}
	}
	if len(got) != len(wantWarn) {
		t.Errorf("warnings %q", got)
	}

	e.log.Reset()
	e.f.Load()
	e.wantWarning(".forward:2: " + e.path("plain") + " is a directory but not a Maildir")
	e.wantWarning("aliases:2: " + e.path("plain") + " is a directory but not a Maildir")
}

// ~/Maildir written without its '/' is the store even before the
// Maildir exists: an mbox file made there would take the store's place.
func TestStoreWithoutSlash(t *testing.T) {
	e := newEnv(t, "")
	e.system("")
	e.user(".forward", "~/Maildir\nbob@example.com\n", 0o600)
	if got, want := e.resolve("alice"), []string{`\alice`, "bob@example.com"}; !slices.Equal(got, want) {
		t.Errorf("alice -> %q, want %q", got, want)
	}
	// A store directory not yet completed with cur/, new/ and tmp/ is
	// the store too, with no word of a directory that is no Maildir:
	// delivery completes it.
	if err := os.Mkdir(e.path("Maildir"), 0o700); err != nil {
		t.Fatal(err)
	}
	if got, want := e.resolve("alice"), []string{`\alice`, "bob@example.com"}; !slices.Equal(got, want) {
		t.Errorf("alice -> %q, want %q", got, want)
	}
	var trace []string
	e.f.Explain("alice", nil, func(_ int, msg string) { trace = append(trace, msg) })
	if text := strings.Join(trace, "\n"); strings.Contains(text, "not a Maildir") {
		t.Errorf("trace:\n%s", text)
	}
	reports, _ := Check(e.cfg)
	for _, r := range reports {
		if len(r.Warnings) > 0 {
			t.Errorf("%s: warnings %v", r.Path, r.Warnings)
		}
	}
}

// A copy journaled for a directory that is no Maildir, written without
// the '/' (the expansion of an alias or .forward with several targets is
// recorded before delivery), goes to that Maildir once the line ends
// with '/', as the deferral's reason told: Current reads the expansion
// again. Other journaled targets stay as they were recorded.
func TestCurrentMendedLine(t *testing.T) {
	e := newEnv(t, "")
	e.system("")
	if err := os.Mkdir(e.path("plain"), 0o700); err != nil {
		t.Fatal(err)
	}
	e.user(".config/homepost/aliases", "pair: ~/plain, bob@example.com\n", 0o600)
	rcpt := "pair@box.example.org"
	journaled := ParseSpec(e.path("plain"), rcpt)
	if got := e.f.Current(journaled, rcpt, nil); got != journaled {
		t.Errorf("line as it was: %+v, want %+v", got, journaled)
	}
	e.user(".config/homepost/aliases", "pair: ~/plain/, bob@example.com\n", 0o600)
	want := Target{Kind: Maildir, Value: e.path("plain") + "/", Via: rcpt}
	if got := e.f.Current(journaled, rcpt, nil); got != want {
		t.Errorf("line mended: %+v, want %+v", got, want)
	}
	for _, spec := range []string{e.path("mbox"), "bob@example.com", e.path("plain") + "/"} {
		j := ParseSpec(spec, rcpt)
		if got := e.f.Current(j, rcpt, nil); got != j {
			t.Errorf("%s: %+v, want it as journaled", spec, got)
		}
	}
}
