package maildir

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// An append cut off at any byte is recognised and cut back; a whole one
// is found; nothing of it, or something else at its place, is told apart.
func TestResolveAtEveryLength(t *testing.T) {
	path := filepath.Join(t.TempDir(), "mbox")
	first := "Subject: first\n\nbody\n"
	if err := Mbox(path).Append("a@x", time.Unix(1e9, 0), nil, strings.NewReader(first)); err != nil {
		t.Fatal(err)
	}
	before, _ := os.ReadFile(path)
	hdr := []byte("Return-Path: <b@x>\n")
	body := "Subject: second\n\nFrom the start\n>From quoted\n" + strings.Repeat("line\n", 50)
	when := time.Unix(2e9, 0)
	l, err := Mbox(path).Lock()
	if err != nil {
		t.Fatal(err)
	}
	var mark Mark
	err = l.AppendMarked("b@x", when, hdr, func() io.Reader { return strings.NewReader(body) }, func(m Mark) error {
		mark = m
		return nil
	})
	l.Unlock()
	if err != nil {
		t.Fatal(err)
	}
	whole, _ := os.ReadFile(path)
	if mark.Off != int64(len(before)) || mark.Off+mark.Len != int64(len(whole)) {
		t.Fatalf("mark %+v, file %d bytes, was %d", mark, len(whole), len(before))
	}
	resolve := func(content []byte) (MarkState, []byte) {
		t.Helper()
		if err := os.WriteFile(path, content, 0o600); err != nil {
			t.Fatal(err)
		}
		l, err := Mbox(path).Lock()
		if err != nil {
			t.Fatal(err)
		}
		defer l.Unlock()
		st, err := l.Resolve(mark, "b@x")
		if err != nil {
			t.Fatal(err)
		}
		after, _ := os.ReadFile(path)
		return st, after
	}
	if st, after := resolve(whole); st != Whole || !bytes.Equal(after, whole) {
		t.Errorf("whole copy: %v", st)
	}
	if st, after := resolve(before); st != Absent || !bytes.Equal(after, before) {
		t.Errorf("nothing appended: %v", st)
	}
	for n := len(before) + 1; n < len(whole); n++ {
		if st, after := resolve(whole[:n]); st != Cut || !bytes.Equal(after, before) {
			t.Fatalf("cut at %d of %d: %v, left %d bytes", n, len(whole), st, len(after))
		}
	}
	// A cut-off copy that another program appended after: left alone.
	other := append(append([]byte{}, whole[:len(before)+30]...), "\n\nFrom c@x Thu Jan  1 00:00:00 2026\nSubject: other\n\nx\n\n"...)
	if st, after := resolve(other); st != Foreign || !bytes.Equal(after, other) {
		t.Errorf("cut-off copy with mail after it: %v", st)
	}
	// Rewritten shorter (a reader deleted messages): left alone.
	if st, _ := resolve(before[:10]); st != Foreign {
		t.Errorf("shorter mbox: %v", st)
	}
	// Something else of the copy's length or more: left alone.
	if st, _ := resolve(append(append([]byte{}, before...), bytes.Repeat([]byte("x\n"), len(whole))...)); st != Foreign {
		t.Errorf("other bytes: %v", st)
	}
}

// A mark that cannot be recorded stops the append before a byte is
// written.
func TestAppendMarkedNeedsTheMark(t *testing.T) {
	path := filepath.Join(t.TempDir(), "mbox")
	l, err := Mbox(path).Lock()
	if err != nil {
		t.Fatal(err)
	}
	defer l.Unlock()
	err = l.AppendMarked("", time.Now(), nil, func() io.Reader { return strings.NewReader("x\n") }, func(Mark) error { return os.ErrPermission })
	if err == nil {
		t.Fatal("appended without its mark")
	}
	if st, _ := os.Stat(path); st.Size() != 0 {
		t.Fatalf("%d bytes written", st.Size())
	}
}

// A dotlock whose temporary file cannot be written (a full disk; here a
// file size limit) leaves nothing behind: one leftover per attempt
// would fill the mail spool.
func TestDotlockLeavesNoTemporary(t *testing.T) {
	dir := t.TempDir()
	signal.Ignore(syscall.SIGXFSZ)
	defer signal.Reset(syscall.SIGXFSZ)
	var old unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_FSIZE, &old); err != nil {
		t.Fatal(err)
	}
	if err := unix.Setrlimit(unix.RLIMIT_FSIZE, &unix.Rlimit{Cur: 1, Max: old.Max}); err != nil {
		t.Skip("SKIP: cannot limit the file size:", err)
	}
	_, _, err := dotlock(filepath.Join(dir, "mbox.lock"))
	unix.Setrlimit(unix.RLIMIT_FSIZE, &old)
	if err == nil {
		t.Fatal("a dotlock was taken with its pid cut off")
	}
	if names, _ := os.ReadDir(dir); len(names) != 0 {
		t.Fatalf("left behind: %v", names)
	}
}

// The temporary files of a dotlock that killed processes left are
// removed by the next lock; a live process's is not.
func TestLockRemovesDeadTemporaries(t *testing.T) {
	path := filepath.Join(t.TempDir(), "mbox")
	c := exec.Command("true")
	if err := c.Run(); err != nil {
		t.Skip("SKIP: no true(1)")
	}
	dead := fmt.Sprintf("%s.lock.%d.123", path, c.Process.Pid)
	live := fmt.Sprintf("%s.lock.%d.456", path, os.Getppid())
	os.WriteFile(dead, []byte("x\n"), 0o644)
	os.WriteFile(live, []byte("x\n"), 0o644)
	l, err := Mbox(path).LockForDelivery()
	if err != nil {
		t.Fatal(err)
	}
	l.Unlock()
	if _, err := os.Stat(dead); err == nil {
		t.Error("a dead process's temporary file stays")
	}
	if _, err := os.Stat(live); err != nil {
		t.Error("a live process's temporary file was removed")
	}
}
