package sweep

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"testing"
)

// reader is the independent check: Python's mailbox module reads every
// store as mutt or any other reader would, and counts, per Message-ID,
// the whole copies (the body's SHA-256 is the one sent) and the torn
// ones.
const reader = `
import email, hashlib, json, mailbox, os, sys
from email import policy
from email.parser import BytesHeaderParser

def dsn(raw):
    """The Message-ID and body of the message a DSN returns, or None."""
    m = email.message_from_bytes(raw, policy=policy.compat32)
    if m.get_content_type() != "multipart/report":
        return None
    for part in m.get_payload():
        if part.get_content_type() == "message/rfc822":
            inner = part.get_payload(0)
            b = inner.as_bytes(policy=policy.compat32.clone(linesep="\n"))
            sep = b.find(b"\n\n")
            return "dsn:" + str(inner.get("Message-ID")), (b[sep + 2:] if sep >= 0 else b"")
    return "dsn:" + "?", b""

def raws(kind, path):
    if kind == "maildir":
        errs = ["no %s/ in the Maildir" % sub for sub in ("tmp", "new", "cur")
                if os.path.exists(path) and not os.path.isdir(os.path.join(path, sub))]
        if not os.path.exists(path):
            return [], errs
        box = mailbox.Maildir(path, factory=None, create=False)
        return [box.get_bytes(k) for k in box.keys()], errs
    if kind == "mbox":
        if not os.path.exists(path):
            return [], []
        box = mailbox.mbox(path, create=False)
        return [box.get_bytes(k) for k in box.keys()], []
    if not os.path.isdir(path):
        return [], []
    out = []
    for n in sorted(os.listdir(path)):
        if n.startswith("msg."):
            with open(os.path.join(path, n), "rb") as f:
                out.append(f.read())
    return out, []

result = []
for item in json.load(sys.stdin):
    res = {"label": item["label"], "stores": []}
    for st in item["stores"]:
        r = {"path": st["path"], "whole": {}, "torn": {}, "errors": []}
        try:
            msgs, r["errors"] = raws(st["kind"], st["path"])
        except Exception as e:
            msgs = []
            r["errors"].append("%s: %s" % (type(e).__name__, e))
        for raw in msgs:
            mid = BytesHeaderParser().parsebytes(raw).get("Message-ID")
            sep = raw.find(b"\n\n")
            body = raw[sep + 2:] if sep >= 0 else b""
            returned = dsn(raw)
            if returned is not None:
                # A DSN counts for the message it returns, whole when
                # that message's body comes back whole.
                mid, body = returned
            want = item["expect"].get(str(mid))
            if want is None:
                r["errors"].append("a message that was never sent: %r" % raw[:300])
                continue
            key = "whole" if hashlib.sha256(body).hexdigest() == want else "torn"
            r[key][mid] = r[key].get(mid, 0) + 1
        res["stores"].append(r)
    result.append(res)
json.dump(result, sys.stdout)
`

// readItem asks the reader about one world's stores.
type readItem struct {
	Label  string            `json:"label"`
	Stores []readStore       `json:"stores"`
	Expect map[string]string `json:"expect"` // Message-ID → body SHA-256
}

type readStore struct {
	Kind string `json:"kind"`
	Path string `json:"path"`
}

type readResult struct {
	Label  string `json:"label"`
	Stores []struct {
		Path   string         `json:"path"`
		Whole  map[string]int `json:"whole"`
		Torn   map[string]int `json:"torn"`
		Errors []string       `json:"errors"`
	} `json:"stores"`
}

// readStores runs the reader once for many worlds.
func readStores(t *testing.T, items []readItem) []readResult {
	t.Helper()
	in, err := json.Marshal(items)
	if err != nil {
		t.Fatal(err)
	}
	c := exec.Command("python3", "-c", reader)
	c.Stdin = bytes.NewReader(in)
	var errb bytes.Buffer
	c.Stderr = &errb
	out, err := c.Output()
	if err != nil {
		t.Fatalf("python3 reader: %v\n%s", err, errb.String())
	}
	var res []readResult
	if err := json.Unmarshal(out, &res); err != nil {
		t.Fatalf("python3 reader: %v\n%s", err, out)
	}
	return res
}

// expectOf is what the reader compares copies with.
func expectOf(msgs []message) map[string]string {
	m := map[string]string{}
	for _, msg := range msgs {
		m[msg.msgID()] = msg.sum()
		if msg.bounces() {
			m["dsn:"+msg.msgID()] = msg.sum()
		}
	}
	return m
}

// exactlyOnce lists what is wrong in a store that must hold every
// message once and whole.
func exactlyOnce(msgs []message, r readResult) []string {
	var bad []string
	for _, st := range r.Stores {
		bad = append(bad, prefixAll(st.Path+": ", st.Errors)...)
		for _, m := range msgs {
			ids := []string{m.msgID()}
			if m.bounces() {
				// Its DSN, in the same store.
				ids = append(ids, "dsn:"+m.msgID())
			}
			for _, id := range ids {
				if n := st.Whole[id]; n != 1 {
					bad = append(bad, fmt.Sprintf("%s: %s stored whole %d times", st.Path, id, n))
				}
				if n := st.Torn[id]; n != 0 {
					bad = append(bad, fmt.Sprintf("%s: %s stored cut off %d times", st.Path, id, n))
				}
			}
		}
	}
	sort.Strings(bad)
	return bad
}

func prefixAll(p string, l []string) []string {
	out := make([]string, len(l))
	for i, s := range l {
		out[i] = p + s
	}
	return out
}

// countWhole counts the whole copies of each message among the files
// that a command wrote, at the moment of a crash (the reader checks them
// again at the end).
func countWhole(msgs []message, dir string) map[string]int {
	want := map[string]string{}
	for _, m := range msgs {
		want[m.sum()] = m.msgID()
	}
	n := map[string]int{}
	names, _ := filepath.Glob(filepath.Join(dir, "msg.*"))
	for _, p := range names {
		b, err := os.ReadFile(p)
		if err != nil {
			continue
		}
		if _, body, ok := bytes.Cut(b, []byte("\n\n")); ok {
			s := sha256.Sum256(body)
			if id, ok := want[hex.EncodeToString(s[:])]; ok {
				n[id]++
			}
		}
	}
	return n
}
