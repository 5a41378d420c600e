package maildir

import (
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// A reader that holds a kernel lock on the mbox and then wants the
// dotlock (mutt and s-nail lock in that order) gets the dotlock while a
// delivery waits for the kernel lock: the delivery lets the dotlock go
// between its tries. It held the dotlock for up to 30 seconds, and mutt
// gave up on it ("Lock count exceeded, remove lock?").
func TestKernelLockBusyLetsDotlockGo(t *testing.T) {
	p := filepath.Join(t.TempDir(), "mbox")
	if err := os.WriteFile(p, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	// The reader's kernel lock: a flock on an open file of its own
	// (flock locks belong to the open file, so this one is another
	// holder even in this process).
	reader, err := os.Open(p)
	if err != nil {
		t.Fatal(err)
	}
	defer reader.Close()
	if err := unix.Flock(int(reader.Fd()), unix.LOCK_EX); err != nil {
		t.Fatal(err)
	}
	type result struct {
		l   *Locked
		err error
	}
	done := make(chan result, 1)
	go func() {
		l, err := Mbox(p).LockForDelivery()
		done <- result{l, err}
	}()
	// The delivery has taken the dotlock and met the kernel lock.
	time.Sleep(200 * time.Millisecond)
	// The reader now wants the dotlock, as mutt_dotlock makes it: a
	// file created where none is.
	deadline := time.Now().Add(2 * time.Second)
	for {
		f, err := os.OpenFile(p+".lock", os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
		if err == nil {
			f.WriteString(strconv.Itoa(os.Getpid()) + "\n")
			f.Close()
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the reader holding the kernel lock could not make the dotlock in 2 s: the delivery kept it (%v)", err)
		}
		time.Sleep(5 * time.Millisecond)
	}
	// The reader is done: it lets both locks go, and the delivery
	// takes them.
	unix.Flock(int(reader.Fd()), unix.LOCK_UN)
	os.Remove(p + ".lock")
	r := <-done
	if r.err != nil {
		t.Fatalf("delivery lock: %v", r.err)
	}
	if b, err := os.ReadFile(p + ".lock"); err != nil || strings.TrimSpace(string(b)) != strconv.Itoa(os.Getpid()) {
		t.Errorf("the delivery holds the mbox without its own dotlock: %q %v", b, err)
	}
	r.l.Unlock()
	if _, err := os.Stat(p + ".lock"); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("dotlock left behind: %v", err)
	}
}

// A dotlock that another program took over (a lock it judged stale, or
// mutt's "remove lock? yes") between the dotlock and the kernel locks:
// the lock is not taken under it, and the other program's dotlock is
// left in place. The delivery wrote under the other's lock and then
// removed it.
func TestDotlockTakenOverIsNotWrittenUnder(t *testing.T) {
	defer func(d time.Duration) { lockTimeout = d }(lockTimeout)
	lockTimeout = 300 * time.Millisecond
	p := filepath.Join(t.TempDir(), "mbox")
	if err := os.WriteFile(p, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	defer func(f func(string)) { afterDotlock = f }(afterDotlock)
	other := []byte(strconv.Itoa(os.Getppid()) + "\n") // a live process, not this one
	afterDotlock = func(dot string) {
		os.Remove(dot)
		os.WriteFile(dot, other, 0o644)
	}
	l, err := Mbox(p).LockForDelivery()
	if err == nil {
		l.Unlock()
		t.Fatal("locked the mbox while another program held its dotlock")
	}
	var le *LockError
	if !errors.As(err, &le) {
		t.Fatalf("error %v is not a LockError", err)
	}
	if b, err := os.ReadFile(p + ".lock"); err != nil || string(b) != string(other) {
		t.Errorf("the other program's dotlock is gone or changed: %q %v", b, err)
	}
}

// Unlock removes the dotlock only while it is still the one this
// process made.
func TestUnlockLeavesAnotherProgramsDotlock(t *testing.T) {
	p := filepath.Join(t.TempDir(), "mbox")
	l, err := Mbox(p).Lock()
	if err != nil {
		t.Fatal(err)
	}
	// Taken over: removed and made again by another program.
	os.Remove(p + ".lock")
	other := []byte(strconv.Itoa(os.Getppid()) + "\n")
	if err := os.WriteFile(p+".lock", other, 0o644); err != nil {
		t.Fatal(err)
	}
	l.Unlock()
	if b, err := os.ReadFile(p + ".lock"); err != nil || string(b) != string(other) {
		t.Errorf("Unlock removed another program's dotlock: %q %v", b, err)
	}
}
