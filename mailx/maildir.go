package mailx

import (
	"bytes"
	"cmp"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"

	"golang.org/x/sys/unix"
)

// headRead is how much of a Maildir file the summary reads at first: one
// read that holds the header of nearly every message and the whole of a
// small one (cron output, notices), whose lines are then counted. A
// longer header is followed block by block; the body of a larger
// message is never read, and its line count is shown as unknown.
const headRead = 16 << 10

// maxHead bounds how far a header section is followed in a Maildir file.
const maxHead = 1 << 20

// isMaildir reports whether path is a Maildir: it names a directory with
// cur/, new/ and tmp/, or it ends in a slash.
func isMaildir(path string) bool {
	if strings.HasSuffix(path, "/") {
		return true
	}
	for _, sub := range []string{"cur", "new", "tmp"} {
		if st, err := os.Stat(filepath.Join(path, sub)); err != nil || !st.IsDir() {
			return false
		}
	}
	return true
}

// scanMaildir lists new/ and cur/ and reads the header section of every
// message, in parallel. Messages are ordered by delivery time (the number
// that starts a Maildir name), then by name.
func scanMaildir(dir string) ([]*Msg, error) { return scanMaildirExcept(dir, nil) }

// scanMaildirExcept is scanMaildir leaving out the messages whose base
// name (without the info part) is in known: inc uses it to find what
// arrived since the mailbox was listed. Numbers start at 1.
func scanMaildirExcept(dir string, known map[string]bool) ([]*Msg, error) {
	var msgs []*Msg
	for _, sub := range []string{"new", "cur"} {
		f, err := os.Open(filepath.Join(dir, sub))
		if err != nil {
			if errors.Is(err, os.ErrNotExist) {
				continue
			}
			return nil, err
		}
		names, err := f.Readdirnames(-1)
		f.Close()
		if err != nil {
			return nil, fmt.Errorf("%s: %w", filepath.Join(dir, sub), err)
		}
		for _, n := range names {
			if n == "" || n[0] == '.' {
				continue
			}
			m := &Msg{Path: filepath.Join(dir, sub, n), Name: n}
			if sub == "new" {
				m.flags |= fNew
			} else {
				m.flags |= fOld
				if base, info, ok := strings.Cut(n, ":2,"); ok {
					m.Name, m.Info = base, info
					if strings.IndexByte(info, 'S') >= 0 {
						m.flags |= fSeen
					}
				} else if base, _, ok := strings.Cut(n, ":"); ok {
					m.Name = base
				}
			}
			if known[m.Name] {
				continue
			}
			msgs = append(msgs, m)
		}
	}
	// Sort by the delivery time first (parsed once per name), and only
	// ties by the whole name.
	for _, m := range msgs {
		m.key = nameTime(m.Name)
	}
	slices.SortFunc(msgs, func(a, b *Msg) int {
		if a.key != b.key {
			return cmp.Compare(a.key, b.key)
		}
		return naturalCompare(a.Name, b.Name)
	})
	for i, m := range msgs {
		m.Num = i + 1
	}
	readHeaders(dir, msgs)
	// Files that vanished (another client expunged them) are dropped.
	out := msgs[:0]
	for _, m := range msgs {
		if m.Size >= 0 {
			m.Num = len(out) + 1
			out = append(out, m)
		}
	}
	return out, nil
}

// naturalCompare orders Maildir names by the numbers in them (delivery
// time, then microseconds or a sequence number, which writers do not
// zero-pad), and the rest as text.
func naturalCompare(a, b string) int {
	for a != "" && b != "" {
		da, db := digits(a), digits(b)
		if da > 0 && db > 0 {
			na, nb := strings.TrimLeft(a[:da], "0"), strings.TrimLeft(b[:db], "0")
			if len(na) != len(nb) {
				return cmp.Compare(len(na), len(nb))
			}
			if c := strings.Compare(na, nb); c != 0 {
				return c
			}
			a, b = a[da:], b[db:]
			continue
		}
		if a[0] != b[0] {
			return cmp.Compare(int(a[0]), int(b[0]))
		}
		a, b = a[1:], b[1:]
	}
	return cmp.Compare(len(a), len(b))
}

// nameTime is the delivery time at the start of a Maildir name.
func nameTime(name string) int64 {
	var n int64
	for i := 0; i < len(name) && i < 18 && name[i] >= '0' && name[i] <= '9'; i++ {
		n = n*10 + int64(name[i]-'0')
	}
	return n
}

func digits(s string) int {
	i := 0
	for i < len(s) && s[i] >= '0' && s[i] <= '9' {
		i++
	}
	return i
}

// readHeaders reads the header of each message with a few workers; the
// work is syscalls on cached files, so a worker per CPU and some more
// keep both the CPUs and the disk busy. Files are opened relative to
// their directory (openat), which saves the kernel a path walk each.
func readHeaders(dir string, msgs []*Msg) {
	var dirfd [2]int
	for i, sub := range []string{"new", "cur"} {
		fd, err := unix.Open(filepath.Join(dir, sub), unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
		if err != nil {
			fd = -1
		}
		dirfd[i] = fd
		if fd >= 0 {
			defer unix.Close(fd)
		}
	}
	workers := runtime.GOMAXPROCS(0) * 2
	const chunk = 256
	var next int
	var mu sync.Mutex
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			buf := make([]byte, headRead)
			for {
				mu.Lock()
				lo := next
				next += chunk
				mu.Unlock()
				if lo >= len(msgs) {
					return
				}
				for _, m := range msgs[lo:min(lo+chunk, len(msgs))] {
					fd := dirfd[1]
					if m.has(fNew) {
						fd = dirfd[0]
					}
					buf = readHead(fd, m, buf)
				}
			}
		}()
	}
	wg.Wait()
}

// readHead reads the header section of one Maildir file into m. It uses
// raw syscalls: os.File would register each file with the poller. The
// size comes from the read when the file fits the buffer, else from
// fstat.
func readHead(dirfd int, m *Msg, buf []byte) []byte {
	fd, err := unix.Openat(dirfd, filepath.Base(m.Path), unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		m.Size = -1
		return buf
	}
	defer unix.Close(fd)
	n := 0
	size := int64(-1)
	h := hscan{m: m}
	for {
		k, err := unix.Pread(fd, buf[n:], int64(n))
		if err != nil && n == 0 {
			// Not a readable file (a directory left in cur/):
			// not a message.
			m.Size = -1
			return buf
		}
		if err != nil || k <= 0 {
			size = int64(n)
			break
		}
		n += k
		if n < len(buf) {
			// A short read of a regular file is its end.
			size = int64(n)
			break
		}
		if scanHeaderBlock(buf[:n], nil) >= 0 || len(buf) >= maxHead {
			break
		}
		buf = append(buf, make([]byte, len(buf))...)
	}
	if size < 0 {
		var st unix.Stat_t
		if unix.Fstat(fd, &st) != nil {
			m.Size = -1
			return buf
		}
		size = st.Size
	}
	m.Size = size
	scanHeaderBlock(buf[:n], &h)
	m.Lines = -1
	if int64(n) >= size {
		m.Lines = int64(countLines(buf[:n]))
	}
	if len(buf) > headRead {
		buf = buf[:headRead:headRead]
	}
	return buf
}

func countLines(b []byte) int {
	n := bytes.Count(b, []byte{'\n'})
	if len(b) > 0 && b[len(b)-1] != '\n' {
		n++
	}
	return n
}
