// Package benchdir gives make bench's programs the directory they work
// in.
package benchdir

import (
	"fmt"
	"os"
	"path/filepath"
)

// Make returns the directory a bench works in: dir, made if missing, when
// it is given; else a new directory named prefix... in $HOME (the disk
// the user's mail is on, not a tmpfs), which the caller removes at the
// end.
//
// Why a directory the caller keeps: ext4 without a journal (the machines
// these benches were measured on) does not reuse an inode for a minute
// or more after its file was deleted (five minutes while its block is
// dirty), and every file created meanwhile in that block group steps
// over each such inode, reading its dtime. One bench removing its tens
// of thousands of files at its end made every file created by the next
// bench, the ceiling's as much as homepost's, pay for that walk: the
// ceilings of the runs right after one another fell from 2060–2130 to
// 1480–1860 messages a second, and the ratios to them rose. make bench
// gives both of its programs one directory with -dir and removes it
// once both are done.
func Make(dir, prefix string) (string, error) {
	if dir == "" {
		return os.MkdirTemp(os.Getenv("HOME"), prefix)
	}
	dir, err := filepath.Abs(dir)
	if err != nil {
		return "", err
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", fmt.Errorf("bench directory: %w", err)
	}
	return os.MkdirTemp(dir, prefix)
}
