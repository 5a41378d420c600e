package maildir

import (
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// AppendingTo reports whether process pid holds path open for appending
// (O_APPEND in /proc/PID/fdinfo): mutt and s-nail open the mbox they
// save to before they lock it.
func appendingTo(pid int, path string) bool {
	fds, _ := os.ReadDir(filepath.Join("/proc", strconv.Itoa(pid), "fd"))
	for _, fd := range fds {
		target, err := os.Readlink(filepath.Join("/proc", strconv.Itoa(pid), "fd", fd.Name()))
		if err != nil || target != path {
			continue
		}
		info, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "fdinfo", fd.Name()))
		if err != nil {
			continue
		}
		for _, l := range strings.Split(string(info), "\n") {
			if v, ok := strings.CutPrefix(l, "flags:"); ok {
				var flags int
				for _, c := range strings.TrimSpace(v) {
					flags = flags*8 + int(c-'0')
				}
				if flags&os.O_APPEND != 0 {
					return true
				}
			}
		}
	}
	return false
}

// A mail reader that saves into an mbox (mutt's fcc, record or
// save-message; s-nail's copy/save) opens the file, then takes its fcntl
// lock (mutt: then the dotlock). When that open falls while Rewrite
// holds the locks, the reader waits on the old inode, which Rewrite then
// renames away: once the locks are released, the reader appends to the
// unlinked file, and its message is lost.
func TestRewriteLosesReaderAppend(t *testing.T) {
	for _, reader := range []string{"mutt", "s-nail"} {
		t.Run(reader, func(t *testing.T) {
			bin, err := exec.LookPath(reader)
			if err != nil {
				t.Skip(reader + " not installed")
			}
			dir := t.TempDir()
			path := filepath.Join(dir, "mbox")
			appendN(t, path, 1, 3)
			f, msgs, size := openAll(t, path)
			var cmd *exec.Cmd
			switch reader {
			case "mutt":
				cmd = exec.Command(bin, "-n", "-F", "/dev/null", "-e", "set sendmail=/bin/true",
					"-e", "set record="+path, "-e", "set copy=yes", "-s", "saved-by-reader", "nobody@example.com")
				cmd.Stdin = strings.NewReader("hi\n")
			case "s-nail":
				src := filepath.Join(dir, "src")
				appendN(t, src, 9, 9)
				b, _ := os.ReadFile(src)
				os.WriteFile(src, []byte(strings.Replace(string(b), "Subject 9", "saved-by-reader", 1)), 0o600)
				cmd = exec.Command(bin, "-#", "-n", "-f", src)
				cmd.Stdin = strings.NewReader("copy 1 " + path + "\n")
			}
			cmd.Env = append(os.Environ(), "HOME="+dir, "MAILRC=/dev/null", "TERM=dumb")
			var out strings.Builder
			cmd.Stdout, cmd.Stderr = &out, &out
			keep := func(yield func(Kept) bool) {
				// The locks are held: the reader saves now.
				if err := cmd.Start(); err != nil {
					t.Fatal(err)
				}
				for deadline := time.Now().Add(5 * time.Second); !appendingTo(cmd.Process.Pid, path); {
					if time.Now().After(deadline) {
						t.Fatalf("%s never opened %s", reader, path)
					}
					time.Sleep(10 * time.Millisecond)
				}
				time.Sleep(100 * time.Millisecond)
				for _, k := range []Kept{{Off: msgs[0].Off, Len: msgs[0].Len, Status: "RO"}, {Off: msgs[2].Off, Len: msgs[2].Len, Status: "O"}} {
					if !yield(k) {
						return
					}
				}
			}
			if _, err := Mbox(path).Rewrite(f, size, keep); err != nil {
				t.Fatal(err)
			}
			err = cmd.Wait()
			b, _ := os.ReadFile(path)
			if !strings.Contains(string(b), "saved-by-reader") {
				t.Errorf("the message %s saved into the mbox during the rewrite is lost (%s exit: %v; said %q); the mbox holds:\n%s", reader, reader, err, out.String(), b)
			}
		})
	}
}
