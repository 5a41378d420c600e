package mailx

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// headRead is how much of a Maildir file is read to find its header. A
// message that fits is counted exactly; for a larger one the line count
// is left unknown rather than reading its body.
const headRead = 64 << 10

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
func scanMaildir(dir string) ([]*Msg, error) {
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
			msgs = append(msgs, m)
		}
	}
	slices.SortFunc(msgs, func(a, b *Msg) int {
		ta, tb := nameTime(a.Name), nameTime(b.Name)
		if ta != tb {
			if ta < tb {
				return -1
			}
			return 1
		}
		return strings.Compare(a.Name, b.Name)
	})
	for i, m := range msgs {
		m.Num = i + 1
	}
	readHeaders(msgs)
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

// nameTime is the delivery time at the start of a Maildir name.
func nameTime(name string) int64 {
	i := 0
	for i < len(name) && name[i] >= '0' && name[i] <= '9' {
		i++
	}
	n, _ := strconv.ParseInt(name[:i], 10, 64)
	return n
}

// readHeaders reads the header of each message with a few workers; the
// work is syscalls on cached files, so a worker per CPU and some more
// keep both the CPUs and the disk busy.
func readHeaders(msgs []*Msg) {
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
					buf = readHead(m, buf)
				}
			}
		}()
	}
	wg.Wait()
}

// readHead reads the header section of one Maildir file into m. It uses
// raw syscalls: os.File would register each file with the poller.
func readHead(m *Msg, buf []byte) []byte {
	fd, err := syscall.Open(m.Path, syscall.O_RDONLY|syscall.O_CLOEXEC, 0)
	if err != nil {
		m.Size = -1
		return buf
	}
	defer syscall.Close(fd)
	var st syscall.Stat_t
	if syscall.Fstat(fd, &st) != nil {
		m.Size = -1
		return buf
	}
	m.Size = st.Size
	m.MTime = time.Unix(st.Mtim.Sec, st.Mtim.Nsec)
	n := 0
	h := hscan{m: m}
	for {
		k, err := syscall.Pread(fd, buf[n:], int64(n))
		if err != nil || k <= 0 {
			break
		}
		n += k
		if int64(n) >= st.Size {
			break
		}
		if n < len(buf) {
			continue
		}
		if scanHeaderBlock(buf[:n], nil) >= 0 || len(buf) >= maxHead {
			break
		}
		buf = append(buf, make([]byte, len(buf))...)
	}
	scanHeaderBlock(buf[:n], &h)
	m.Lines = -1
	if int64(n) >= st.Size {
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
