package sweep

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"homepost/outbox"
)

// A call is one system call read from strace's output (-f -y): its
// name, its arguments as strace printed them, and its return value.
type call struct {
	line  int    // line number in the trace (of its end)
	start int    // line number of its start: line, or its "<unfinished ...>"
	pid   int    // thread
	name  string // "openat", "renameat2", ...
	args  []string
	ret   string // "0", "5</path>", "-1 ENOENT (No such file or directory)"
	text  string // the whole call, for messages
}

// ok reports whether the call succeeded.
func (c call) ok() bool { return c.ret != "" && !strings.HasPrefix(c.ret, "-1") && c.ret != "?" }

// traceExit is a thread's end as strace reports it.
type traceExit struct {
	pid    int
	killed bool
}

// parseTrace reads the output of strace -f -y -o FILE. A call that
// another thread interrupted ("<unfinished ...>") is joined with its
// "<... resumed>" half.
func parseTrace(r io.Reader) ([]call, []traceExit, error) {
	var calls []call
	var exits []traceExit
	type half struct {
		text string
		line int
	}
	pending := map[int]half{}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 1<<20), 1<<24)
	n := 0
	for sc.Scan() {
		n++
		line := sc.Text()
		pidText, rest, ok := strings.Cut(line, " ")
		pid, err := strconv.Atoi(pidText)
		if !ok || err != nil {
			return nil, nil, fmt.Errorf("trace line %d: no pid: %q", n, line)
		}
		rest = strings.TrimLeft(rest, " ")
		start := n
		switch {
		case strings.HasPrefix(rest, "+++ "):
			exits = append(exits, traceExit{pid: pid, killed: strings.Contains(rest, "killed by")})
			continue
		case strings.HasPrefix(rest, "--- "):
			continue // a signal
		case strings.HasSuffix(rest, " <detached ...>"):
			// A thread that strace let go of in a call, as the
			// process ended ("???( <detached ...>"): nothing is
			// known of the call, and nothing follows it.
			delete(pending, pid)
			continue
		case strings.HasSuffix(rest, " <unfinished ...>"):
			pending[pid] = half{strings.TrimSuffix(rest, " <unfinished ...>"), n}
			continue
		case strings.HasPrefix(rest, "<... "):
			_, tail, ok := strings.Cut(rest, " resumed>")
			if !ok {
				return nil, nil, fmt.Errorf("trace line %d: %q", n, line)
			}
			h := pending[pid]
			rest, start = h.text+tail, h.line
			delete(pending, pid)
		}
		c, err := parseCall(rest)
		if err != nil {
			return nil, nil, fmt.Errorf("trace line %d: %v: %q", n, err, line)
		}
		c.line, c.start, c.pid = n, start, pid
		calls = append(calls, c)
	}
	return calls, exits, sc.Err()
}

// parseCall splits "name(arg, arg) = ret".
func parseCall(s string) (call, error) {
	open := strings.IndexByte(s, '(')
	if open <= 0 {
		return call{}, fmt.Errorf("no call")
	}
	c := call{name: s[:open], text: s}
	args, rest, err := splitArgs(s[open+1:])
	if err != nil {
		return call{}, err
	}
	c.args = args
	if _, ret, ok := strings.Cut(rest, " = "); ok {
		c.ret = strings.TrimSpace(ret)
	}
	return c, nil
}

// splitArgs splits the argument list at top-level commas, up to the
// closing parenthesis, and returns what follows it.
func splitArgs(s string) ([]string, string, error) {
	var args []string
	depth, start := 0, 0
	inStr := false
	for i := 0; i < len(s); i++ {
		ch := s[i]
		if inStr {
			switch ch {
			case '\\':
				i++
			case '"':
				inStr = false
			}
			continue
		}
		switch ch {
		case '"':
			inStr = true
		case '(', '[', '{', '<':
			depth++
		case ']', '}', '>':
			depth--
		case ')':
			if depth == 0 {
				if a := strings.TrimSpace(s[start:i]); a != "" {
					args = append(args, a)
				}
				return args, s[i+1:], nil
			}
			depth--
		case ',':
			if depth == 0 {
				args = append(args, strings.TrimSpace(s[start:i]))
				start = i + 1
			}
		}
	}
	return nil, "", fmt.Errorf("unterminated argument list")
}

// unescape undoes strace's C-style escapes (\\, \", \n, \t, \ooo, \xHH).
func unescape(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] != '\\' || i+1 == len(s) {
			b.WriteByte(s[i])
			continue
		}
		i++
		switch c := s[i]; {
		case c == 'n':
			b.WriteByte('\n')
		case c == 't':
			b.WriteByte('\t')
		case c == 'r':
			b.WriteByte('\r')
		case c == 'v':
			b.WriteByte('\v')
		case c == 'f':
			b.WriteByte('\f')
		case c == 'x' && i+2 < len(s):
			v, err := strconv.ParseUint(s[i+1:i+3], 16, 8)
			if err != nil {
				b.WriteByte(c)
				continue
			}
			b.WriteByte(byte(v))
			i += 2
		case c >= '0' && c <= '7':
			j := i
			for j < len(s) && j < i+3 && s[j] >= '0' && s[j] <= '7' {
				j++
			}
			v, _ := strconv.ParseUint(s[i:j], 8, 8)
			b.WriteByte(byte(v))
			i = j - 1
		default:
			b.WriteByte(c)
		}
	}
	return b.String()
}

// str is a quoted string argument, unescaped.
func str(arg string) string {
	arg = strings.TrimSuffix(arg, "...")
	if len(arg) >= 2 && arg[0] == '"' && arg[len(arg)-1] == '"' {
		return unescape(arg[1 : len(arg)-1])
	}
	return arg
}

// fdPath is the path that -y prints beside a file descriptor:
// 5</home/me/Maildir/new> or AT_FDCWD</home/me>.
func fdPath(arg string) (fd string, path string) {
	i := strings.IndexByte(arg, '<')
	if i < 0 || !strings.HasSuffix(arg, ">") {
		return arg, ""
	}
	return arg[:i], unescape(arg[i+1 : len(arg)-1])
}

// atPath resolves a *at call's (dirfd, path) pair.
func atPath(dirArg, pathArg string) string {
	p := str(pathArg)
	if filepath.IsAbs(p) {
		return filepath.Clean(p)
	}
	_, dir := fdPath(dirArg)
	return filepath.Join(dir, p)
}

// The fsync model. A process crash keeps whatever reached the kernel; a
// power loss keeps only what was made durable: a file's data by an fsync
// of the file, a name created, renamed or removed by an fsync of the
// directory holding it. These are the rules that homepost's durable
// steps follow, in the spirit of ALICE (Pillai et al., OSDI 2014):
//
//	R1 a file is fsynced after its last write before it is renamed into
//	   place in the outbox or a store (out of a tmp/ directory);
//	R2 a claim (outbox new/ → cur/) is durable before the message has any
//	   effect: a copy written to a store (a Maildir copy renamed out of
//	   tmp/, which no reader looks into; an mbox written), a command or
//	   smarthost fed;
//	R3 every copy (its data and every name leading to it) is durable
//	   before a result is recorded in the journal or the queue file is
//	   released (its name removed from cur/). A Maildir copy's name
//	   carries its queue ID and counts for that queue file only (the
//	   agent releases one batch's files while the next batch's copies
//	   wait for their sync); data written, and other names (an mbox,
//	   a directory made), count for every queue file;
//	R4 a released queue file is not reused (made a spare that sendmail
//	   refills) before its release is durable;
//	R5 at exit, every claim, release and queued message is durable;
//	R6 a message's name leaves outbox new/ only once its claim in cur/ is
//	   durable: any fsync of new/, another process's too (the sendmail
//	   that queued it, the next one), can make the removal durable at
//	   any moment, and a power loss between the two left the file in no
//	   directory. So a claim is a link into cur/, and the name in new/
//	   is dropped after cur/ is synced; a claim by rename breaks R6.
//	R7 R6's mirror: a message's name leaves outbox cur/ for new/ (a
//	   release from hold) only once new/ holds it durably: the agent's
//	   fsync of cur/ for its claims can make the removal durable at any
//	   moment. So a release is a link into new/, an fsync of new/, then
//	   the unlink from cur/ (which need not be durable: a message found
//	   in both is taken up from cur/); a release by rename breaks R7.
//	R8 a result recorded in a queue file's journal is durable before a
//	   command or the smarthost is fed anything more: the smarthost's
//	   copies of one transaction are recorded before the next begins,
//	   and a power loss that undid the record would send them again
//	   though they were no longer in flight. A QUIT is not fed: it
//	   begins nothing, and the session's worker may send it while the
//	   loop still records the last results.
//	R10 a queue file is not made a spare before the removal of its name
//	   from outbox new/ (its claim's) is durable: a power loss that kept
//	   the release from cur/ and lost that removal (ext4 without a
//	   journal orders neither) would bring the old name back in new/,
//	   reading the next message written into the file.
//	R9 a queue file moved from a former outbox into the outbox (a move
//	   that the agent follows, agent/move.go) is durable under its new
//	   name before its old directory is fsynced, and both directories
//	   are durable at exit: a power loss leaves it in one of the two,
//	   or in both, never in neither. (A rename cannot stop another
//	   process's fsync of the old directory from making the removal
//	   durable first; a link, an fsync, then the unlink could.)
//	R11 a request for a hold (outbox/hold/ID, outbox.Dir.AskHold) is
//	   not removed while a write to its message's queue file (the hold
//	   record) is not durable: a power loss that kept the removal and
//	   lost the record would leave the message neither held nor asked
//	   to be, and the next agent would deliver it. (A removal before
//	   the record is written at all is a kill's matter: the sweep finds
//	   it.) The request, the directory hold/ itself, and a request's
//	   removal are durable at exit (R5): "queue hold" answers once the
//	   hold is asked for durably.
type fsyncModel struct {
	outbox string   // the outbox directory
	former []string // outboxes whose mail is moved into outbox (R9)
	stores []string // Maildir directories and mbox files
	home   string
	// existed holds the paths that existed before the traced run, so
	// that an O_CREAT open of one is not taken for a creation.
	existed map[string]bool
	// isDir tells a directory from a file for an fsync.
	isDir func(string) bool
}

// violation is a broken rule at a line of the trace.
type violation struct {
	rule string
	line int
	msg  string
}

func (v violation) String() string {
	return fmt.Sprintf("%s at trace line %d: %s", v.rule, v.line, v.msg)
}

// entry is a name created, renamed or removed and not yet made durable.
type entry struct {
	path string // the name
	what string // "claim", "release", "queued", "store"
	line int
}

// check applies the rules to a trace of one process (and its threads).
func (m *fsyncModel) check(calls []call) []violation {
	var out []violation
	bad := func(rule string, c call, format string, a ...any) {
		out = append(out, violation{rule, c.line, fmt.Sprintf(format, a...) + "\n\t" + c.text})
	}
	dirty := map[string]int{}         // file → line of its unsynced write
	pending := map[string][]entry{}   // directory → names not yet durable
	releasedAs := map[string]string{} // file in outbox tmp/ → the cur/ name it was released from
	givenBack := map[string]string{}  // name in cur/ → its link in new/ (a release from hold)
	seen := map[string]bool{}
	results := map[string]int{}   // queue file → line of its unsynced result record (R8)
	left := map[string][]string{} // former outbox directory → names moved out of it into the outbox (R9)
	linked := map[string]string{} // name in a former outbox → its link in the outbox (R9)
	cur := filepath.Join(m.outbox, "cur")
	newDir := filepath.Join(m.outbox, "new")
	addEntry := func(p, what string, line int) {
		dir := filepath.Dir(p)
		if filepath.Base(dir) == "tmp" || isLock(p) {
			return // nothing relies on names in tmp/, nor on locks
		}
		pending[dir] = append(pending[dir], entry{p, what, line})
	}
	isPending := func(p string) bool {
		for _, e := range pending[filepath.Dir(p)] {
			if e.path == p {
				return true
			}
		}
		return false
	}
	// storeUnsynced lists the copies of queue ID id not yet durable.
	storeUnsynced := func(id string) []string {
		var l []string
		for p, line := range dirty {
			if m.inStore(p) {
				l = append(l, fmt.Sprintf("%s (written at line %d)", p, line))
			}
		}
		for _, es := range pending {
			for _, e := range es {
				if e.what != "store" {
					continue
				}
				if sub := filepath.Base(filepath.Dir(e.path)); (sub == "new" || sub == "cur") && !strings.Contains(filepath.Base(e.path), id) {
					continue // another message's Maildir copy
				}
				l = append(l, fmt.Sprintf("the name %s (line %d)", e.path, e.line))
			}
		}
		return l
	}
	// effect is a step that the claim must be durable for (R2); each
	// claim is reported once.
	reported := map[string]bool{}
	effect := func(c call, what string) {
		for _, e := range pending[cur] {
			if e.what == "claim" && !reported[e.path] {
				reported[e.path] = true
				bad("R2", c, "%s while the claim of %s (line %d) is not durable: after a power loss the message is back in new/ and is delivered again as new", what, filepath.Base(e.path), e.line)
				return
			}
		}
	}
	// relied is a step that the copies of the queue file at path must be
	// durable for (R3).
	relied := func(c call, what, path string) {
		id := outbox.ID(strings.TrimSuffix(filepath.Base(path), ":2,"))
		if l := storeUnsynced(id); len(l) > 0 {
			bad("R3", c, "%s before the copies are durable: %s", what, strings.Join(l, "; "))
		}
	}
	write := func(c call, p string) {
		if p == "" {
			return
		}
		if m.inStore(p) && !isLock(p) && !inTmp(p) {
			effect(c, "a copy written")
		}
		dirty[p] = c.line
	}
	for _, c := range calls {
		if !c.ok() {
			continue
		}
		switch c.name {
		case "openat", "open", "creat":
			var p, flags string
			if c.name == "openat" && len(c.args) >= 3 {
				p, flags = atPath(c.args[0], c.args[1]), c.args[2]
			} else if len(c.args) >= 2 {
				p, flags = filepath.Clean(str(c.args[0])), c.args[1]
			}
			if p == "" || !m.under(p) {
				continue
			}
			if (strings.Contains(flags, "O_CREAT") || c.name == "creat") && !m.existed[p] && !seen[p] {
				seen[p] = true
				if m.inStore(p) && !isLock(p) && !inTmp(p) {
					effect(c, "a copy created")
				}
				addEntry(p, m.kind(p), c.line)
			}
			seen[p] = true
			if strings.Contains(flags, "O_TRUNC") {
				write(c, p)
			}
		case "write", "pwrite64", "writev", "pwritev", "pwritev2", "ftruncate", "fallocate":
			if len(c.args) == 0 {
				continue
			}
			fd, p := fdPath(c.args[0])
			if strings.HasPrefix(p, "socket:") || strings.HasPrefix(p, "pipe:") {
				if fd != "1" && fd != "2" {
					effect(c, "a command or smarthost fed")
					if len(c.args) > 1 && str(c.args[1]) == "QUIT\r\n" {
						continue // ends the session: no copy rides on it
					}
					for q, line := range results {
						bad("R8", c, "a command or smarthost fed while the result recorded in %s (line %d) is not durable: a power loss would undo it and send the copy again", filepath.Base(q), line)
						delete(results, q)
					}
				}
				continue
			}
			if !m.under(p) {
				continue
			}
			if filepath.Dir(p) == cur && len(c.args) > 1 && strings.HasPrefix(str(c.args[1]), "s ") {
				relied(c, "a result recorded in the journal", p)
				results[p] = c.line
			}
			if c.name == "fallocate" {
				continue // room reserved, nothing written
			}
			write(c, p)
		case "syncfs":
			// Everything written on the file system is durable: the
			// tests keep HOME on one file system.
			clear(dirty)
			clear(pending)
			clear(results)
			clear(left)
		case "fsync", "fdatasync":
			_, p := fdPath(c.args[0])
			if m.isDir(p) {
				for _, dst := range left[p] {
					if isPending(dst) {
						bad("R9", c, "%s moved out of %s, which is made durable before its new name is: a power loss between the two leaves it in neither", filepath.Base(dst), p)
					}
				}
				delete(left, p)
				delete(pending, p)
			} else {
				delete(dirty, p)
				delete(results, p)
			}
		case "mkdirat", "mkdir":
			var p string
			if c.name == "mkdirat" {
				p = atPath(c.args[0], c.args[1])
			} else {
				p = filepath.Clean(str(c.args[0]))
			}
			if m.under(p) {
				seen[p] = true
				addEntry(p, m.kind(p), c.line)
			}
		case "renameat", "renameat2", "rename":
			var src, dst string
			if c.name == "rename" {
				src, dst = filepath.Clean(str(c.args[0])), filepath.Clean(str(c.args[1]))
			} else {
				src, dst = atPath(c.args[0], c.args[1]), atPath(c.args[2], c.args[3])
			}
			if !m.under(src) && !m.under(dst) {
				continue
			}
			if line, ok := dirty[src]; ok && filepath.Base(filepath.Dir(dst)) != "tmp" && (m.inStore(dst) || m.inOutbox(dst)) {
				// Mail put into place: a rename within tmp/ (a queue
				// file retired or made a spare) publishes nothing, and
				// a status file is no mail.
				bad("R1", c, "%s renamed after a write (line %d) that was not fsynced", src, line)
			}
			if l, ok := dirty[dst]; ok {
				delete(dirty, dst)
				_ = l
			}
			if line, ok := dirty[src]; ok {
				dirty[dst] = line
				delete(dirty, src)
			}
			if line, ok := results[src]; ok {
				results[dst] = line
				delete(results, src)
			}
			seen[dst] = true
			switch {
			case m.fromFormer(src) && (filepath.Dir(dst) == newDir || filepath.Dir(dst) == cur):
				addEntry(dst, "move", c.line)
				addEntry(src, "move", c.line)
				left[filepath.Dir(src)] = append(left[filepath.Dir(src)], dst)
			case filepath.Dir(src) == newDir && filepath.Dir(dst) == cur:
				bad("R6", c, "%s claimed by a rename: its name leaves new/ before its claim is durable, and another process's fsync of new/ can make that removal durable first", filepath.Base(src))
				addEntry(dst, "claim", c.line)
			case filepath.Dir(src) == cur && filepath.Dir(dst) == newDir:
				bad("R7", c, "%s released from hold by a rename: its name leaves cur/ before new/ holds it durably, and the agent's fsync of cur/ can make that removal durable first", filepath.Base(src))
				addEntry(dst, "given back", c.line)
			case filepath.Dir(src) == cur && filepath.Dir(dst) != cur:
				relied(c, "queue file released", src)
				e := entry{src, "release", c.line}
				pending[cur] = append(pending[cur], e)
				releasedAs[dst] = src
				if strings.HasPrefix(filepath.Base(dst), "spare.") {
					bad("R4", c, "%s made a spare in the same step that releases it: sendmail may refill it before the release is durable", filepath.Base(src))
				}
			case filepath.Dir(dst) == newDir:
				addEntry(dst, "queued", c.line)
			default:
				if from, ok := releasedAs[src]; ok {
					delete(releasedAs, src)
					if isPending(from) && strings.HasPrefix(filepath.Base(dst), "spare.") {
						bad("R4", c, "%s made a spare before its release from cur/ is durable", filepath.Base(from))
					}
					if dropped := filepath.Join(newDir, strings.TrimSuffix(filepath.Base(from), ":2,")); isPending(dropped) && strings.HasPrefix(filepath.Base(dst), "spare.") {
						bad("R10", c, "%s made a spare before the removal of its name from new/ is durable", filepath.Base(from))
					}
				}
				if m.inStore(dst) && !isLock(dst) {
					effect(c, "a copy stored")
				}
				if m.inStore(src) && filepath.Base(filepath.Dir(src)) != "tmp" {
					addEntry(src, m.kind(src), c.line)
				}
				addEntry(dst, m.kind(dst), c.line)
			}
		case "unlinkat", "unlink":
			var p string
			if c.name == "unlinkat" {
				p = atPath(c.args[0], c.args[1])
			} else {
				p = filepath.Clean(str(c.args[0]))
			}
			if !m.under(p) {
				continue
			}
			delete(dirty, p)
			if dst, ok := linked[p]; ok {
				delete(linked, p)
				if isPending(dst) {
					bad("R9", c, "%s unlinked from a former outbox before its link in the outbox is durable", filepath.Base(p))
				}
				addEntry(p, "move", c.line)
				continue
			}
			if filepath.Dir(p) == newDir && isPending(filepath.Join(cur, filepath.Base(p)+":2,")) {
				bad("R6", c, "%s dropped from new/ before its claim in cur/ is durable", filepath.Base(p))
			}
			if filepath.Dir(p) == newDir {
				// The removal counts for R10 until new/ is synced.
				pending[newDir] = append(pending[newDir], entry{p, "dropped", c.line})
			}
			if back, ok := givenBack[p]; ok {
				// Released from hold: no queue file leaves the queue.
				delete(givenBack, p)
				if isPending(back) {
					bad("R7", c, "%s unlinked from cur/ before its link in new/ is durable", filepath.Base(p))
				}
				continue
			}
			if filepath.Dir(p) == cur {
				relied(c, "queue file released", p)
				pending[cur] = append(pending[cur], entry{p, "release", c.line})
			} else if m.inStore(p) {
				addEntry(p, "store", c.line)
			} else if m.asked(p) {
				id := filepath.Base(p)
				for q, line := range dirty {
					if filepath.Dir(q) == cur && outbox.ID(strings.TrimSuffix(filepath.Base(q), ":2,")) == id {
						bad("R11", c, "the request for the hold of %s removed before its journal's write (line %d) is durable: a power loss can keep the removal and lose the hold record, and the message is delivered", id, line)
					}
				}
				addEntry(p, "asked", c.line)
			}
		case "linkat", "link":
			var src, dst string
			if c.name == "linkat" {
				src, dst = atPath(c.args[0], c.args[1]), atPath(c.args[2], c.args[3])
			} else {
				src, dst = filepath.Clean(str(c.args[0])), filepath.Clean(str(c.args[1]))
			}
			switch {
			case m.fromFormer(src) && (filepath.Dir(dst) == newDir || filepath.Dir(dst) == cur):
				addEntry(dst, "move", c.line)
				linked[src] = dst
			case filepath.Dir(src) == newDir && filepath.Dir(dst) == cur:
				addEntry(dst, "claim", c.line)
			case filepath.Dir(src) == cur && filepath.Dir(dst) == newDir:
				addEntry(dst, "given back", c.line)
				givenBack[src] = dst
			case m.under(dst):
				addEntry(dst, m.kind(dst), c.line)
			}
		}
	}
	// R5: what must be durable when the process is done.
	end := call{line: 0, text: "(exit)"}
	if len(calls) > 0 {
		end.line = calls[len(calls)-1].line
	}
	for _, es := range pending {
		for _, e := range es {
			switch e.what {
			case "claim", "release", "queued", "move":
				bad("R5", end, "the %s of %s (line %d) is not durable at exit", e.what, filepath.Base(e.path), e.line)
			case "asked":
				bad("R5", end, "%s, a request for a hold made or removed (line %d), is not durable at exit", e.path, e.line)
			}
		}
	}
	if l := storeUnsynced(""); len(l) > 0 { // every copy
		bad("R5", end, "copies not durable at exit: %s", strings.Join(l, "; "))
	}
	return out
}

// inTmp reports whether p is in a tmp/ directory (of a Maildir): what is
// written there is nobody's mail until it is renamed out.
func inTmp(p string) bool { return filepath.Base(filepath.Dir(p)) == "tmp" }

// under reports whether p is in the user's world (the HOME).
func (m *fsyncModel) under(p string) bool {
	return p != "" && (p == m.home || strings.HasPrefix(p, m.home+"/"))
}

// fromFormer reports whether p is a name in a former outbox's new/ or
// cur/.
func (m *fsyncModel) fromFormer(p string) bool {
	dir := filepath.Dir(p)
	for _, f := range m.former {
		if dir == filepath.Join(f, "new") || dir == filepath.Join(f, "cur") {
			return true
		}
	}
	return false
}

// inOutbox reports whether p is in the outbox.
func (m *fsyncModel) inOutbox(p string) bool { return strings.HasPrefix(p, m.outbox+"/") }

// inStore reports whether p is a store, or a name in one.
func (m *fsyncModel) inStore(p string) bool {
	for _, s := range m.stores {
		if p == s || strings.HasPrefix(p, s+"/") {
			return true
		}
	}
	return false
}

// kind names what an entry for p is.
func (m *fsyncModel) kind(p string) string {
	if m.inStore(p) {
		return "store"
	}
	if m.asked(p) {
		return "asked"
	}
	return "other"
}

// asked reports whether p is the outbox's hold/ directory, or a request
// for a hold in it (R11).
func (m *fsyncModel) asked(p string) bool {
	hold := filepath.Join(m.outbox, "hold")
	return p == hold || filepath.Dir(p) == hold
}

// isLock reports whether p is a lock file or a dotlock's temporary.
func isLock(p string) bool {
	b := filepath.Base(p)
	return strings.HasSuffix(b, ".lock") || strings.Contains(b, ".lock.")
}

// statIsDir is isDir for paths that still exist after the run; a path
// that no longer exists was a file (directories are not removed).
func statIsDir(p string) bool {
	st, err := os.Stat(p)
	return err == nil && st.IsDir()
}
