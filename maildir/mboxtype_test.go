package maildir

import (
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// An mbox that is no regular file is named by its type: the type bits
// alone ("p---------") read as a mode of 000.
func TestCheckMboxNamesType(t *testing.T) {
	fifo := filepath.Join(t.TempDir(), "mbox")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	err := CheckMbox(fifo)
	if err == nil || !strings.Contains(err.Error(), "is not a regular file (a FIFO): not delivered into it") {
		t.Errorf("CheckMbox(FIFO) = %v", err)
	}
}
