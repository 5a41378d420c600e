package doctor

import (
	"bytes"
	"os"
	"path/filepath"
	"syscall"
	"testing"
)

// homepostProgram finds the module information of homepost's programs
// wherever it lies in the file, across the reads it makes, and nothing
// in other files; it never blocks on a FIFO.
func TestHomepostProgram(t *testing.T) {
	dir := t.TempDir()
	mark := "path\thomepost/cmd/sendmail\nmod\thomepost\t(devel)\t\n"
	write := func(name string, data []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, data, 0o755); err != nil {
			t.Fatal(err)
		}
		return p
	}
	pad := func(n int) []byte { return bytes.Repeat([]byte{0x90}, n) }
	for _, tc := range []struct {
		name string
		data []byte
		want bool
	}{
		{"at the start", []byte(mark), true},
		{"far in", append(pad(3<<20), mark...), true},
		{"across a read", append(pad(256<<10-10), mark...), true},
		{"homepost itself", append(pad(1000), "path\thomepost\nmod\thomepost\t\t\n"...), true},
		{"another module's program", append(pad(1000), "path\tsendmail\nmod\tsendmail\t\t\n"...), false},
		{"another main package", append(pad(1000), "path\thomepost/test/bench\nmod\thomepost\t\t\n"...), false},
		{"a script", []byte("#!/bin/sh\nexec /usr/sbin/sendmail.postfix \"$@\"\n"), false},
		{"empty", nil, false},
	} {
		if got := homepostProgram(write(tc.name, tc.data)); got != tc.want {
			t.Errorf("%s: homepostProgram = %v, want %v", tc.name, got, tc.want)
		}
	}
	fifo := filepath.Join(dir, "fifo")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	if homepostProgram(fifo) {
		t.Error("a FIFO is homepost")
	}
	if homepostProgram(filepath.Join(dir, "missing")) {
		t.Error("a missing file is homepost")
	}
}
