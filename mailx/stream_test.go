package mailx

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"io"
	"math/rand/v2"
	"mime"
	"mime/multipart"
	"net/mail"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"
	"unicode/utf8"

	"homepost/outbox"
)

// maxSendRSS bounds the peak memory of "mail" sending a 50 MB message:
// sendmail queues the same data in about 3 MB.
const maxSendRSS = 32 << 20

// mailRSS runs "homepost mail -n ARGS" with stdin from the file in, and
// returns its peak resident memory: the high-water mark of its own
// memory, VmHWM in /proc/PID/status, read until it exits. (The child's
// ru_maxrss would not do: a child that Go starts shares the test's
// memory until it execs, and the kernel counts that memory's peak as
// the child's.)
func (h *home) mailRSS(t *testing.T, in string, args ...string) int64 {
	t.Helper()
	return h.mailRSSTo(t, in, nil, args...)
}

// mailRSSTo is mailRSS with the standard output written to stdout (when
// not nil) rather than kept for the error message.
func (h *home) mailRSSTo(t *testing.T, in string, stdout io.Writer, args ...string) int64 {
	t.Helper()
	cmd := exec.Command(binary(t), append([]string{"mail", "-n"}, args...)...)
	cmd.Env = h.env
	cmd.Dir = h.dir
	f, err := os.Open(in)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	cmd.Stdin = f
	var o, e bytes.Buffer
	cmd.Stdout, cmd.Stderr = &o, &e
	if stdout != nil {
		cmd.Stdout = stdout
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var peak atomic.Int64
	done := make(chan struct{})
	go func() {
		defer close(done)
		status := fmt.Sprintf("/proc/%d/status", cmd.Process.Pid)
		for {
			b, err := os.ReadFile(status)
			if err != nil {
				return // gone
			}
			for _, l := range strings.Split(string(b), "\n") {
				if v, ok := strings.CutPrefix(l, "VmHWM:"); ok {
					var kb int64
					fmt.Sscanf(strings.TrimSpace(v), "%d", &kb)
					if kb<<10 > peak.Load() {
						peak.Store(kb << 10)
					}
				}
			}
			if strings.Contains(string(b), "State:\tZ") {
				return
			}
			time.Sleep(2 * time.Millisecond)
		}
	}()
	err = cmd.Wait()
	<-done
	if err != nil {
		t.Fatalf("mail %q: %v\n%s%s", args, err, o.String(), e.String())
	}
	if peak.Load() == 0 {
		t.Fatalf("mail %q: its peak memory could not be read", args)
	}
	return peak.Load()
}

// queuedFile is the one message in the outbox, opened for reading.
func (h *home) queuedFile(t *testing.T) *outbox.Message {
	t.Helper()
	dir := h.path(".local/state/homepost/outbox/new")
	entries, err := os.ReadDir(dir)
	if err != nil || len(entries) != 1 {
		t.Fatalf("outbox/new: %d files, %v", len(entries), err)
	}
	m, err := outbox.Open(filepath.Join(dir, entries[0].Name()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	return m
}

// A 50 MB body from standard input ("mail -s x root < file") and a
// 50 MB attachment ("mail -a file root </dev/null") are sent in memory
// that does not grow with them, and arrive intact.
func TestSendLargeInConstantMemory(t *testing.T) {
	if testing.Short() {
		t.Skip("writes 100 MB")
	}
	const size = 50 << 20
	dir := t.TempDir()

	// A text body of 50 MB, lines of ASCII: sent as it is (7bit).
	bodyPath := filepath.Join(dir, "body.txt")
	bf, err := os.Create(bodyPath)
	if err != nil {
		t.Fatal(err)
	}
	bw := bufio.NewWriter(bf)
	r := rand.New(rand.NewPCG(1, 2))
	const letters = "abcdefghijklmnopqrstuvwxyz ABCDEFGHIJKLMNOPQRSTUVWXYZ 0123456789"
	line := make([]byte, 72)
	for n := 0; n < size; n += len(line) + 1 {
		for i := range line {
			line[i] = letters[r.IntN(len(letters))]
		}
		bw.Write(line)
		bw.WriteByte('\n')
	}
	bw.Flush()
	bf.Close()
	want := fileSum(t, bodyPath)

	h := newHome(t)
	rss := h.mailRSS(t, bodyPath, "-s", "big body", "root")
	m := h.queuedFile(t)
	msg, err := mail.ReadMessage(bufio.NewReaderSize(m.Body(), 64<<10))
	if err != nil {
		t.Fatal(err)
	}
	if msg.Header.Get("Subject") != "big body" || msg.Header.Get("Content-Transfer-Encoding") != "7bit" {
		t.Errorf("header: %v", msg.Header)
	}
	if got := readerSum(t, msg.Body); got != want {
		t.Errorf("the body queued differs from the file sent")
	}
	t.Logf("50 MB body: peak RSS %d MB", rss>>20)
	if rss > maxSendRSS {
		t.Errorf("mail -s x root < 50MB file: peak RSS %d MB, want at most %d MB", rss>>20, maxSendRSS>>20)
	}

	// A binary attachment of 50 MB, with an empty body.
	binPath := filepath.Join(dir, "data.bin")
	af, err := os.Create(binPath)
	if err != nil {
		t.Fatal(err)
	}
	aw := bufio.NewWriter(af)
	buf := make([]byte, 64<<10)
	for n := 0; n < size; n += len(buf) {
		for i := 0; i < len(buf); i += 8 {
			v := r.Uint64()
			for k := 0; k < 8; k++ {
				buf[i+k] = byte(v >> (8 * k))
			}
		}
		aw.Write(buf)
	}
	aw.Flush()
	af.Close()
	want = fileSum(t, binPath)

	h = newHome(t)
	rss = h.mailRSS(t, os.DevNull, "-s", "big attachment", "-a", binPath, "root")
	m = h.queuedFile(t)
	msg, err = mail.ReadMessage(bufio.NewReaderSize(m.Body(), 64<<10))
	if err != nil {
		t.Fatal(err)
	}
	mt, params, err := mime.ParseMediaType(msg.Header.Get("Content-Type"))
	if err != nil || mt != "multipart/mixed" {
		t.Fatalf("Content-Type %q: %v", msg.Header.Get("Content-Type"), err)
	}
	mr := multipart.NewReader(msg.Body, params["boundary"])
	var parts []string
	for {
		p, err := mr.NextPart()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		parts = append(parts, p.Header.Get("Content-Type"))
		if p.FileName() == "data.bin" {
			if p.Header.Get("Content-Transfer-Encoding") != "base64" {
				t.Errorf("attachment encoding %q", p.Header.Get("Content-Transfer-Encoding"))
			}
			// Lines of 76 characters, as RFC 2045 wants.
			br := bufio.NewReader(p)
			pr, pw := io.Pipe()
			go func() {
				for {
					l, err := br.ReadSlice('\n')
					if len(bytes.TrimRight(l, "\r\n")) > 76 {
						pw.CloseWithError(fmt.Errorf("base64 line of %d characters", len(l)))
						return
					}
					pw.Write(bytes.TrimRight(l, "\r\n"))
					if err != nil {
						pw.Close()
						return
					}
				}
			}()
			if got := readerSum(t, base64.NewDecoder(base64.StdEncoding, pr)); got != want {
				t.Errorf("the attachment queued differs from the file")
			}
		}
	}
	if len(parts) != 2 || !strings.HasPrefix(parts[1], "application/octet-stream") {
		t.Errorf("parts %q, want the text and the attachment", parts)
	}
	t.Logf("50 MB attachment: peak RSS %d MB", rss>>20)
	if rss > maxSendRSS {
		t.Errorf("mail -a 50MB.bin root </dev/null: peak RSS %d MB, want at most %d MB", rss>>20, maxSendRSS>>20)
	}
}

func fileSum(t *testing.T, path string) [32]byte {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	return readerSum(t, f)
}

func readerSum(t *testing.T, r io.Reader) [32]byte {
	t.Helper()
	h := sha256.New()
	if _, err := io.Copy(h, r); err != nil {
		t.Fatal(err)
	}
	var s [32]byte
	copy(s[:], h.Sum(nil))
	return s
}

// lfWriter and textScan see a message in pieces cut anywhere: a CRLF or
// a UTF-8 sequence split between two writes is still one.
func TestStreamPiecesCutAnywhere(t *testing.T) {
	for _, in := range []string{
		"a\r\nb\r\n\r\nc\rd\r", "\r\r\n\r", "zoë café\r\n" + strings.Repeat("x", 1000) + "\n", "\xe2\x82", "\xff ok",
	} {
		want := strings.ReplaceAll(in, "\r\n", "\n")
		for cut := 0; cut <= len(in); cut++ {
			var out bytes.Buffer
			lw := &lfWriter{w: &out}
			lw.Write([]byte(in[:cut]))
			lw.Write([]byte(in[cut:]))
			lw.Close()
			if out.String() != want {
				t.Errorf("%q cut at %d: %q, want %q", in, cut, out.String(), want)
			}
			s := &textScan{}
			s.Write([]byte(in[:cut]))
			s.Write([]byte(in[cut:]))
			if len(s.carry) > 0 {
				s.invalid = true
			}
			nonASCII := strings.ContainsFunc(in, func(r rune) bool { return r >= 0x80 || r == 0 }) || !utf8Valid(in)
			if s.nonASCII != nonASCII || s.invalid != !utf8Valid(in) || s.long != strings.Contains(in, strings.Repeat("x", 999)) {
				t.Errorf("%q cut at %d: scan %+v", in, cut, s)
			}
		}
	}
}

func utf8Valid(s string) bool { return utf8.ValidString(s) }

// maxExtractRSS bounds the peak memory of "mail -t" queuing a 50 MB
// message: it holds the header only, as sendmail -t does.
const maxExtractRSS = 40 << 20

// mail -t with a 50 MB message holds its header only: the body streams
// to the queue, which gets it intact, with the recipients of the
// header and the fields that options add.
func TestSendExtractLargeInConstantMemory(t *testing.T) {
	if testing.Short() {
		t.Skip("writes 50 MB")
	}
	const size = 50 << 20
	path := filepath.Join(t.TempDir(), "msg.eml")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	bw := bufio.NewWriter(f)
	bw.WriteString("To: a@example.org\nBcc: hidden@example.org\nCc: b@example.org\n\n")
	body := sha256.New()
	w := io.MultiWriter(bw, body)
	r := rand.New(rand.NewPCG(3, 4))
	line := make([]byte, 100)
	for n := 0; n < size; n += len(line) + 1 {
		for i := range line {
			line[i] = 'a' + byte(r.IntN(26))
		}
		w.Write(line)
		w.Write([]byte{'\n'})
	}
	bw.Flush()
	f.Close()
	var want [32]byte
	copy(want[:], body.Sum(nil))

	h := newHome(t)
	rss := h.mailRSS(t, path, "-t", "-s", "big extract")
	m := h.queuedFile(t)
	var rcpts []string
	for _, rc := range m.Env.Rcpts {
		rcpts = append(rcpts, rc.Addr)
	}
	if strings.Join(rcpts, " ") != "a@example.org hidden@example.org b@example.org" {
		t.Errorf("recipients %q", rcpts)
	}
	msg, err := mail.ReadMessage(bufio.NewReaderSize(m.Body(), 64<<10))
	if err != nil {
		t.Fatal(err)
	}
	if msg.Header.Get("Subject") != "big extract" || msg.Header.Get("Bcc") != "" || msg.Header.Get("Cc") != "b@example.org" {
		t.Errorf("header: %v", msg.Header)
	}
	if got := readerSum(t, msg.Body); got != want {
		t.Errorf("the body queued differs from the one sent")
	}
	t.Logf("mail -t, 50 MB: peak RSS %d MB", rss>>20)
	if rss > maxExtractRSS {
		t.Errorf("mail -t < 50MB message: peak RSS %d MB, want at most %d MB", rss>>20, maxExtractRSS>>20)
	}
}

// A header section of more than 8 MiB (submit.MaxHeader) is passed on as
// it is with -t: recipients are taken from its fields within the limit,
// the fields options would add are not (mail says so), and a recipient
// field past the limit is refused rather than missed.
func TestSendExtractHugeHeader(t *testing.T) {
	filler := strings.Repeat("X-Filler: "+strings.Repeat("f", 80)+"\n", (9<<20)/91)
	h := newHome(t)
	in := "To: a@example.org\n" + filler + "Subject: late\n\nbody\n"
	_, e, code := h.mail(t, in, "-t", "-s", "from the option", "-c", "c@example.org")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, e)
	}
	if !strings.Contains(e, "larger than 8 MiB: the fields given as options are not added") {
		t.Errorf("no warning: %q", e)
	}
	q := h.only(t)
	if strings.Join(q.rcpts, " ") != "c@example.org a@example.org" {
		t.Errorf("recipients %q", q.rcpts)
	}
	if !strings.HasPrefix(q.raw, "To: a@example.org\nX-Filler: ") || q.msg.Header.Get("Subject") != "late" || q.body != "body\n" {
		t.Errorf("message: %.200q ... %q", q.raw, q.raw[len(q.raw)-40:])
	}

	h = newHome(t)
	_, e, code = h.mail(t, filler+"To: late@example.org\n\nbody\n", "-t", "a@example.org")
	if code != exDataErr || !strings.Contains(e, "a To field follows more than 8 MiB of header") {
		t.Errorf("a To field past 8 MiB: exit %d, %q", code, e)
	}
	if q := h.queue(t); len(q) != 0 {
		t.Errorf("%d messages queued", len(q))
	}
}

// -E with -t: a message of white space only is not sent, however long;
// one with text after the white space is sent whole.
func TestSendExtractEmptyWithE(t *testing.T) {
	h := newHome(t)
	blank := "\n" + strings.Repeat(" \t\n", 1<<19)
	if _, e, code := h.mail(t, blank, "-E", "-t", "a@example.org"); code != 0 {
		t.Fatalf("exit %d: %s", code, e)
	}
	if q := h.queue(t); len(q) != 0 {
		t.Fatalf("-E -t with a blank message queued %d", len(q))
	}
	if _, e, code := h.mail(t, blank+"text\n", "-E", "-t", "a@example.org"); code != 0 {
		t.Fatalf("exit %d: %s", code, e)
	}
	if q := h.only(t); !strings.HasSuffix(q.raw, " \t\ntext\n") || len(q.raw) < len(blank) {
		t.Errorf("message of %d bytes, ends %q", len(q.raw), q.raw[max(0, len(q.raw)-20):])
	}
}
