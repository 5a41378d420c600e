package config

// A configuration file with an error must not stop mail from being
// queued: cron's output, a unit's failure report and a script's message
// would be refused until somebody noticed. Queuing needs only the
// outbox, so the commands that queue (sendmail, mail, cron, notify,
// sendmail -bs) and those that look at the queue (mailq, flush, queue)
// load the file with LoadQueue, which falls back to what a broken file
// can still tell. The agent loads it the same way, so that it holds the
// very queue that the shims fill, and delivers nothing until the file
// is fixed.
//
// # The rule
//
// When the file does not load, the queue's location is read from its
// top-level lines (those before the first [table]) one line at a time:
// "outbox" and "state_dir" as the file sets them, else their defaults
// under $XDG_STATE_HOME. "hostname" (when it is a host name), "store"
// and "deliver_without_agent" are read the same way, when their lines
// can be read, for the Message-ID, the check below and the background
// delivery. Every other key keeps its default: such a
// configuration is for queuing only, nothing is delivered with it.
//
// When even the outbox is unknown (the file exists but cannot be read,
// as a file of mode 000, one that sudo cp left root's, a directory, a
// symbolic link to nothing; or the line that sets outbox or state_dir
// cannot be read: a value that does not parse, is not an absolute path,
// or is set twice; or the outbox it names is, holds or lies in the
// store), mail is queued all the same, in the default outbox under
// $XDG_STATE_HOME, with every other key at its default, and LoadQueue
// says so (UnknownOutbox). A file that is fixed without naming another
// outbox finds that mail where it looks; one that names another finds
// it reported (settings.Config.OtherOutboxes, submit.Stranded: the
// agent's log, mailq, check), with how to move it. The agent does not
// move it itself: a name in an outbox's new/ may be a message that an
// agent has taken (outbox.Dir.Take keeps the name there until the claim
// is durable, and a crash can leave it there), and a queue file is
// recycled once delivered, so a move between two outboxes could, after
// a crash, deliver a message twice. Nothing is queued (exit 78) only
// when the user cannot be found, or the default outbox itself is in
// the store.

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/BurntSushi/toml"

	"homepost/settings"
)

// LoadQueue is Load for the commands that queue mail or look at the
// queue. When the file has an error it returns, beside that error, a
// fallback configuration (see Fallback), which is good for queuing only;
// when the file does not tell where the outbox is, the defaults, and
// the error is an *UnknownOutbox. It returns a nil configuration only
// when nothing can be queued at all.
func LoadQueue() (*Config, error) {
	cfg, id, path, err := loadDefault()
	if err == nil || path == "" {
		return cfg, err
	}
	fb, ferr := Fallback(path, id)
	if ferr == nil {
		return fb, err
	}
	def := Defaults(id)
	def.File = path
	if _, store := def.StoreKind(); !filepath.IsAbs(def.Outbox) || settings.Overlaps(def.Outbox, store) {
		return nil, fmt.Errorf("%w\n%v; the default outbox %s is no better (it overlaps the store %s): nothing can be queued", err, ferr, def.Outbox, store)
	}
	if e := def.CheckQueue(); e != nil {
		// Mail queued where others can delete it would be lost after
		// sendmail said it was taken: better refused.
		if strings.Contains(err.Error(), e.Msg) {
			return nil, fmt.Errorf("%w\nnothing can be queued", err)
		}
		return nil, fmt.Errorf("%w\n%v; the default outbox is no better: %s: nothing can be queued", err, ferr, e.Msg)
	}
	return def, &UnknownOutbox{Err: err, Why: ferr, Outbox: def.Outbox}
}

// UnknownOutbox is LoadQueue's error for a file that does not tell
// where the outbox is: mail is queued in the default outbox meanwhile.
// It reads as the file's own error, and unwraps to it.
type UnknownOutbox struct {
	Err    error  // the file's error, as Load reports it
	Why    error  // why the outbox is unknown (Fallback's error)
	Outbox string // the default outbox, used meanwhile
}

func (e *UnknownOutbox) Error() string { return e.Err.Error() }
func (e *UnknownOutbox) Unwrap() error { return e.Err }

// Fallback is the configuration that a file which does not load still
// tells: the defaults, with the outbox, state directory, host name and
// deliver_without_agent read line by line from the file's top level
// (see the rule in this file's comment). A missing file gives the
// defaults. It returns an error when the outbox cannot be told.
func Fallback(path string, id Identity) (*Config, error) {
	data, err := settings.ReadConfig(path, id)
	if err != nil {
		if rerr := readError(path, err); !errors.Is(rerr, os.ErrNotExist) {
			var ce *Error
			if errors.As(rerr, &ce) && ce.Unsafe {
				// Its outbox is another user's choice too.
				return nil, &Error{File: path, Unsafe: true, Msg: "others could change the file, so the outbox it names is not used"}
			}
			if errors.As(rerr, &ce) {
				return nil, &Error{File: path, Msg: ce.Msg + ", so the outbox is unknown"}
			}
			return nil, &Error{File: path, Msg: fmt.Sprintf("%v, so the outbox is unknown", rerr)}
		}
	}
	data = skipBOM(data)
	c := settings.Base()
	vals, bad := topLevel(data)
	for _, key := range []string{"state_dir", "outbox"} {
		if line, ok := bad[key]; ok {
			return nil, &Error{File: path, Line: line, Key: key, Msg: "cannot read the value, so the outbox is unknown"}
		}
	}
	str := func(key string) string { s, _ := vals[key].(string); return s }
	c.StateDir, c.Outbox = str("state_dir"), str("outbox")
	if h := str("hostname"); h != "" && settings.CheckHostname(h) == nil {
		c.Hostname = h
	}
	if st := str("store"); st != "" {
		c.Store = st
	}
	if b, ok := vals["deliver_without_agent"].(bool); ok {
		c.DeliverWithoutAgent = b
	}
	c.File = path
	c.Finish(id)
	for _, p := range []struct{ key, val string }{{"state_dir", c.StateDir}, {"outbox", c.Outbox}} {
		if !filepath.IsAbs(p.val) {
			return nil, &Error{File: path, Line: keyLine(data, []string{p.key}), Key: p.key,
				Msg: fmt.Sprintf("%q is not an absolute path, so the outbox is unknown", p.val)}
		}
	}
	// An outbox in the store would put queue files among the user's
	// mail, where no agent looks once the file is fixed.
	if _, store := c.StoreKind(); filepath.IsAbs(store) && settings.Overlaps(c.Outbox, store) {
		return nil, &Error{File: path, Line: keyLine(data, []string{"outbox"}), Key: "outbox",
			Msg: fmt.Sprintf("%q overlaps the store %q, so it cannot be the outbox, which is unknown", c.Outbox, store)}
	}
	// An outbox that others could change is no place for mail.
	if e := c.CheckQueue(); e != nil {
		e.File, e.Line = path, keyLine(data, []string{e.Key})
		if e.Line == 0 && e.Key == "outbox" {
			// The outbox is the default one, in the state_dir that
			// the file names: that line is the one to blame.
			if n := keyLine(data, []string{"state_dir"}); n > 0 {
				e.Line, e.Key = n, "state_dir"
			}
		}
		if e.Line == 0 {
			e.Msg += defaultPlace
		}
		e.Msg += ", so it cannot be the outbox, which is unknown"
		return nil, e
	}
	return c, nil
}

// defaultPlace ends the message about a queue directory that others
// could change, when no key of the file put it there.
const defaultPlace = " (the default place, under $XDG_STATE_HOME: state_dir in config.toml can name another)"

// fallbackKeys are the top-level keys that a broken file is still read
// for. A bool says the value is a boolean, otherwise a string.
var fallbackKeys = map[string]bool{"state_dir": false, "outbox": false, "hostname": false, "deliver_without_agent": true, "store": false}

// topLevel decodes each line before the first table that sets one of
// fallbackKeys on its own. It returns the values read, and the line
// numbers of those keys whose line could not be read (or that are set
// more than once).
func topLevel(data []byte) (vals map[string]any, bad map[string]int) {
	vals, bad = map[string]any{}, map[string]int{}
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 64*1024), 1<<20)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if strings.HasPrefix(line, "[") {
			break // a table: top-level keys come before the first one
		}
		k, _, ok := strings.Cut(line, "=")
		if !ok {
			continue
		}
		key := strings.Trim(strings.TrimSpace(k), `"'`)
		isBool, wanted := fallbackKeys[key]
		if !wanted {
			continue
		}
		if _, dup := vals[key]; dup {
			bad[key] = n
			continue
		}
		if _, seen := bad[key]; seen {
			continue
		}
		var m map[string]any
		if _, err := toml.Decode(line, &m); err != nil {
			bad[key] = n
			continue
		}
		v := m[key]
		if _, isStr := v.(string); isBool {
			if _, ok := v.(bool); !ok {
				bad[key] = n
				continue
			}
		} else if !isStr {
			bad[key] = n
			continue
		}
		vals[key] = v
	}
	if sc.Err() != nil {
		// A line longer than 1 MB: whatever follows is unknown.
		for key := range fallbackKeys {
			if _, ok := vals[key]; !ok && !fallbackKeys[key] {
				bad[key] = 0
			}
		}
	}
	for key := range bad {
		delete(vals, key)
	}
	return vals, bad
}
