package submit

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// A full name that is not UTF-8 (sendmail -F "J\xfcrgen" typed where
// the terminal is not UTF-8, or NAME) is read as windows-1252, as
// mail(1) reads such a body: the From written claimed utf-8 and held
// the Latin-1 byte (=?utf-8?q?J=FCrgen?=), which a reader cannot
// decode. Checked as Python's email package reads it.
func TestFullNameNotUTF8(t *testing.T) {
	py, err := exec.LookPath("python3")
	if err != nil {
		t.Skip("SKIP: python3 is not installed: cannot check the header independently")
	}
	for name, want := range map[string]string{
		"J\xfcrgen":           "Jürgen",
		"Gr\xfc\xdfe \x80":    "Grüße €",
		"J\xc3\xbcrgen M\xfc": "Jürgen M\uFFFD", // UTF-8 but for a stray byte
	} {
		body, _ := submitted(t, Options{Recipients: []string{"bob"}, FullName: name}, "Subject: x\n\nbody\n")
		eml := filepath.Join(t.TempDir(), "m.eml")
		if err := os.WriteFile(eml, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		out, err := exec.Command(py, "-c", `
import email, sys
from email import policy
m = email.message_from_binary_file(open(sys.argv[1], 'rb'), policy=policy.default)
f = m['From']
sys.stdout.buffer.write((f.addresses[0].display_name + '|' + f.addresses[0].addr_spec + '|' + str(len(f.defects))).encode('utf-8', 'backslashreplace'))
`, eml).CombinedOutput()
		if err != nil {
			t.Fatalf("python3: %v\n%s", err, out)
		}
		if got := string(out); got != want+"|alice@host.example|0" {
			t.Errorf("-F %q: python reads From %q, want %q\n%s", name, got, want, body)
		}
	}
}
