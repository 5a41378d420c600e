package mailx

import (
	"os"
	"strings"
	"testing"
)

// An attachment whose name is not ASCII, or holds quotes, is named with
// RFC 2231 (a filename* parameter in UTF-8), which Python's email reads back
// exactly; an encoded word inside quotes (RFC 2047 5 forbids it) came
// back with backslashes.
func TestAttachmentNameRFC2231(t *testing.T) {
	h := newHome(t)
	name := `my "file" é.txt`
	if err := os.WriteFile(h.path(name), []byte("content\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, e, code := h.mail(t, "body\n", "-s", "att", "-a", h.path(name), "root"); code != 0 {
		t.Fatal(e)
	}
	q := h.only(t)
	if !strings.Contains(q.raw, "filename*=utf-8''") {
		t.Errorf("no RFC 2231 filename:\n%s", q.raw)
	}
	p := h.path("queued.eml")
	os.WriteFile(p, []byte(q.raw), 0o600)
	out := python(t, `
import email, sys
from email import policy
m = email.message_from_binary_file(open(sys.argv[1], 'rb'), policy=policy.default)
for part in m.iter_attachments():
    print(part.get_filename())
`, p)
	if strings.TrimSpace(out) != name {
		t.Errorf("python reads the name %q, want %q", strings.TrimSpace(out), name)
	}
}
