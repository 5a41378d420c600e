package mailx

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"mime"
	"os"
	"os/exec"
	"strconv"
	"strings"

	"github.com/emersion/go-message"
)

// show prints messages and marks them read; all shows every header
// field. Long output goes through $PAGER when crt is set.
func (s *session) show(list []int, all bool) error {
	var buf bytes.Buffer
	for _, i := range list {
		m := s.box.Msgs[i]
		raw, err := s.box.Raw(m)
		if err != nil {
			return err
		}
		if m.Lines < 0 {
			m.Lines = clampLines(countLines(raw))
		}
		fmt.Fprintf(&buf, "Message %d:\n", m.Num)
		if fl := s.box.fromLine(m); fl != "" {
			fmt.Fprintf(&buf, "From %s\n", printable(fl))
		}
		s.render(&buf, raw, all, -1)
		m.flags |= fRead | fTouched
		s.dot = i
		s.shown = true
		if len(list) > 1 {
			buf.WriteByte('\n')
		}
	}
	return s.page(buf.Bytes())
}

// page writes text, through the pager when crt is set and the text is
// longer than crt lines (crt without a value: the terminal height).
func (s *session) page(text []byte) error {
	if crt, ok := s.set.vars["crt"]; ok && s.in.tty {
		limit, err := strconv.Atoi(crt)
		if err != nil || limit <= 0 {
			_, limit = termSize()
		}
		if bytes.Count(text, []byte{'\n'}) > limit && s.runPager(text) == nil {
			return nil
		}
	}
	_, err := s.out.Write(text)
	return err
}

// runPager shows text through the PAGER variable, else $PAGER, else more.
func (s *session) runPager(text []byte) error {
	pager := os.Getenv("PAGER")
	if v := s.set.get("PAGER"); v != "" {
		pager = v
	}
	if pager == "" {
		pager = "more"
	}
	s.out.Flush()
	cmd := exec.Command(shellPath(), "-c", pager)
	cmd.Stdin = bytes.NewReader(text)
	cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
	return cmd.Run()
}

// render writes a message for reading: the header fields (decoded; only
// the retained ones unless all), an empty line and the body with plain
// text parts decoded and other parts listed. maxBody > 0 cuts the body
// to that many lines (top).
func (s *session) render(w *bytes.Buffer, raw []byte, all bool, maxBody int) {
	header, _ := splitMessage(raw)
	writeHeader(w, header, func(name string) bool { return all || s.set.shown(name) })
	w.WriteByte('\n')
	var body bytes.Buffer
	renderBody(&body, raw)
	if maxBody >= 0 {
		sc := bufio.NewScanner(&body)
		sc.Buffer(make([]byte, 4096), 1<<20)
		for n := 0; n < maxBody && sc.Scan(); n++ {
			w.WriteString(sc.Text() + "\n")
		}
		return
	}
	w.Write(body.Bytes())
	if body.Len() > 0 && body.Bytes()[body.Len()-1] != '\n' {
		w.WriteByte('\n')
	}
}

// writeHeader writes the fields of a raw header that keep() accepts,
// unfolded and RFC 2047 decoded.
func writeHeader(w *bytes.Buffer, header []byte, keep func(string) bool) {
	var name, value string
	flush := func() {
		if name != "" && keep(name) {
			fmt.Fprintf(w, "%s: %s\n", printable(name), decodeHeader(strings.TrimSpace(value)))
		}
		name, value = "", ""
	}
	for _, l := range bytes.Split(header, []byte{'\n'}) {
		l = bytes.TrimRight(l, "\r")
		if len(l) == 0 {
			continue
		}
		if l[0] == ' ' || l[0] == '\t' {
			value += " " + strings.TrimSpace(string(l))
			continue
		}
		flush()
		n, v, ok := bytes.Cut(l, []byte{':'})
		if !ok {
			continue
		}
		name, value = string(n), string(v)
	}
	flush()
}

// renderBody writes the body of a message as text: text/plain parts
// decoded to UTF-8, every other part as a line naming its type and size.
// A message go-message cannot parse is shown as stored.
func renderBody(w *bytes.Buffer, raw []byte) {
	e, err := message.Read(bytes.NewReader(raw))
	if e == nil {
		_, body := splitMessage(raw)
		w.WriteString(displayText(body))
		return
	}
	_ = err // an unknown charset still gives a usable entity
	walkEntity(w, e, "1", true)
}

func walkEntity(w *bytes.Buffer, e *message.Entity, path string, top bool) {
	mt, params, _ := e.Header.ContentType()
	if mt == "" {
		mt = "text/plain"
	}
	if mr := e.MultipartReader(); mr != nil {
		if params["boundary"] == "" {
			b := lenientBoundary(e.Header.Get("Content-Type"))
			if b == "" {
				// No usable boundary: the text as stored.
				data, _ := io.ReadAll(e.Body)
				w.WriteString(displayText(data))
				if len(data) > 0 && data[len(data)-1] != '\n' {
					w.WriteByte('\n')
				}
				return
			}
			// A boundary mime.ParseMediaType refuses (unquoted,
			// with '='): quoted, so that go-message takes it.
			t, _, _ := strings.Cut(e.Header.Get("Content-Type"), ";")
			mt = strings.ToLower(strings.TrimSpace(t))
			e.Header.Set("Content-Type", mime.FormatMediaType(mt, map[string]string{"boundary": b}))
			fixed, _ := message.New(e.Header, e.Body)
			if mr = fixed.MultipartReader(); mr == nil {
				listPart(w, e, path)
				return
			}
		}
		var parts []*message.Entity
		for {
			p, err := mr.NextPart()
			if err != nil {
				break
			}
			// The part's body must be read before the next part.
			data, _ := io.ReadAll(p.Body)
			p.Body = bytes.NewReader(data)
			parts = append(parts, p)
		}
		if mt == "multipart/alternative" {
			// Show the plain text alternative; name the others.
			chosen := -1
			for i, p := range parts {
				if t, _, _ := p.Header.ContentType(); t == "text/plain" || t == "" {
					chosen = i
					break
				}
			}
			for i, p := range parts {
				sub := fmt.Sprintf("%s.%d", path, i+1)
				if i == chosen {
					walkEntity(w, p, sub, false)
				} else {
					listPart(w, p, sub)
				}
			}
			return
		}
		for i, p := range parts {
			walkEntity(w, p, fmt.Sprintf("%s.%d", path, i+1), false)
		}
		return
	}
	disp, _, _ := e.Header.ContentDisposition()
	if mt == "text/plain" && disp != "attachment" {
		data, err := io.ReadAll(e.Body)
		if !top {
			fmt.Fprintf(w, "[-- #%s %s --]\n", path, mt)
		}
		if err != nil && len(data) == 0 {
			fmt.Fprintf(w, "[-- cannot decode: %v --]\n", err)
			return
		}
		if cs := params["charset"]; cs != "" {
			if _, ok := convert(cs, nil); !ok {
				fmt.Fprintf(w, "[-- unknown charset %s: non-ASCII characters replaced --]\n", printable(cs))
			}
		}
		w.WriteString(displayText(data))
		if len(data) > 0 && data[len(data)-1] != '\n' {
			w.WriteByte('\n')
		}
		return
	}
	listPart(w, e, path)
}

// displayText makes decoded text safe for a terminal: CRLF to LF and
// control characters other than tab and newline shown as '?'.
func displayText(b []byte) string {
	s := strings.ToValidUTF8(strings.ReplaceAll(string(b), "\r\n", "\n"), "\uFFFD")
	return strings.Map(func(r rune) rune {
		if r == '\n' || r == '\t' {
			return r
		}
		if r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0) {
			return '?'
		}
		return r
	}, s)
}

// listPart names a part that is not shown: its number, type, size and
// file name.
func listPart(w *bytes.Buffer, e *message.Entity, path string) {
	mt, _, _ := e.Header.ContentType()
	if mt == "" {
		mt = "text/plain"
	}
	n, _ := io.Copy(io.Discard, e.Body)
	name := ""
	if _, p, err := e.Header.ContentDisposition(); err == nil && p["filename"] != "" {
		name = p["filename"]
	} else if _, p, err := e.Header.ContentType(); err == nil && p["name"] != "" {
		name = p["name"]
	}
	if name != "" {
		if d, err := new(mime.WordDecoder).DecodeHeader(name); err == nil {
			name = d
		}
		name = ", \"" + printable(name) + "\""
	}
	fmt.Fprintf(w, "[-- #%s %s, %d bytes%s --]\n", path, printable(mt), n, name)
}

// cmdTop prints the retained header and the first toplines body lines.
func (s *session) cmdTop(arg string) error {
	lines := 5
	if v, err := strconv.Atoi(s.set.get("toplines")); err == nil && v >= 0 {
		lines = v
	}
	list, err := s.sel().resolve(arg, undeletedOnly)
	if err != nil {
		return err
	}
	var buf bytes.Buffer
	for _, i := range list {
		m := s.box.Msgs[i]
		raw, err := s.box.Raw(m)
		if err != nil {
			return err
		}
		fmt.Fprintf(&buf, "Message %d:\n", m.Num)
		s.render(&buf, raw, false, lines)
		s.dot = i
		s.shown = true
	}
	return s.page(buf.Bytes())
}

// cmdPipe pipes messages, as stored, to a shell command: pipe [MSGS] CMD.
func (s *session) cmdPipe(arg string) error {
	list, cmdline := s.splitListArg(arg, "cmd")
	if cmdline == "" {
		return fmt.Errorf("pipe: no command given")
	}
	return s.eachMsg(list, undeletedOnly, func(i int, m *Msg) error {
		raw, err := s.box.Raw(m)
		if err != nil {
			return err
		}
		s.out.Flush()
		cmd := exec.Command(shellPath(), "-c", cmdline)
		cmd.Stdin = bytes.NewReader(raw)
		cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
		if err := cmd.Run(); err != nil {
			return fmt.Errorf("%s: %v", cmdline, err)
		}
		m.flags |= fTouched | fRead
		return nil
	})
}

// splitListArg splits "MSGS WORD" for save, copy, write and pipe: the
// last word is the file (for pipe: a quoted command, or all that
// follows the list).
func (s *session) splitListArg(arg, kind string) (list, last string) {
	arg = strings.TrimSpace(arg)
	if kind == "cmd" {
		if i := strings.IndexAny(arg, "'\""); i >= 0 {
			words, err := splitWords(arg[i:])
			if err == nil && len(words) > 0 {
				return strings.TrimSpace(arg[:i]), words[0]
			}
		}
		// Leading list items, then the command.
		f := strings.Fields(arg)
		k := 0
		for k < len(f) && (isListNumber(f[k]) || f[k] == "*" || strings.HasPrefix(f[k], ":")) {
			k++
		}
		return strings.Join(f[:k], " "), strings.Join(f[k:], " ")
	}
	words, err := splitWords(arg)
	if err != nil || len(words) == 0 {
		return "", ""
	}
	i := strings.LastIndex(arg, words[len(words)-1])
	if i < 0 {
		i = len(arg)
	}
	return strings.TrimSpace(arg[:i]), words[len(words)-1]
}

// lenientBoundary takes the boundary parameter out of a Content-Type
// value that mime.ParseMediaType refuses, as mutt and s-nail do: it
// runs to the next ';' or the end, trimmed, quotes removed; "" when
// there is none.
func lenientBoundary(v string) string {
	for _, p := range strings.Split(v, ";")[1:] {
		name, val, ok := strings.Cut(p, "=")
		if !ok || !strings.EqualFold(strings.TrimSpace(name), "boundary") {
			continue
		}
		val = strings.TrimSpace(val)
		if len(val) >= 2 && val[0] == '"' && val[len(val)-1] == '"' {
			val = val[1 : len(val)-1]
		}
		return val
	}
	return ""
}
