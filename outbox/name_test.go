package outbox

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestEscapeHost(t *testing.T) {
	r := strings.NewReplacer("/", `\057`, ":", `\072`, ".", `\056`)
	for _, h := range []string{"", "vm", "mail.example.org", "a/b:c.d", "..", "ü.example"} {
		if got, want := escapeHost(h), r.Replace(h); got != want {
			t.Errorf("escapeHost(%q) = %q, want %q", h, got, want)
		}
	}
}

// An outbox left half made (tmp/ but no new/, by a sendmail killed while
// it created it) is completed by the next commit, not refused.
func TestCommitCompletesOutbox(t *testing.T) {
	d := Dir(filepath.Join(t.TempDir(), "outbox"))
	if err := os.MkdirAll(d.Path("tmp"), 0o700); err != nil {
		t.Fatal(err)
	}
	dr, err := d.Create(&Envelope{Sender: "a@b", Rcpts: []Recipient{{Addr: "root", Parent: -1}}}, "host")
	if err != nil {
		t.Fatal(err)
	}
	dr.WriteString("Subject: x\n\nb\n")
	if err := dr.Commit(); err != nil {
		t.Fatalf("commit into a half-made outbox: %v", err)
	}
	for _, sub := range []string{"new", "cur"} {
		if _, err := os.Stat(d.Path(sub)); err != nil {
			t.Errorf("%s/ not made: %v", sub, err)
		}
	}
	if names, _ := d.Names("new"); len(names) != 1 {
		t.Errorf("new/ holds %v", names)
	}
}
