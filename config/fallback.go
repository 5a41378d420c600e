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
// Nothing is queued (exit 78) only when even the outbox is unknown: the
// user cannot be found, the file exists but cannot be read, or the line
// that sets outbox or state_dir cannot be read (a value that does not
// parse, is not an absolute path, or is set twice), and when the outbox
// is, holds or lies in the store. Guessing then would queue mail where
// no agent looks once the file is fixed.

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
// fallback configuration (see Fallback), which is good for queuing only.
// It returns a nil configuration only when the outbox cannot be told.
func LoadQueue() (*Config, error) {
	cfg, id, path, err := loadDefault()
	if err == nil || path == "" {
		return cfg, err
	}
	fb, ferr := Fallback(path, id)
	if ferr != nil {
		return nil, err
	}
	return fb, err
}

// Fallback is the configuration that a file which does not load still
// tells: the defaults, with the outbox, state directory, host name and
// deliver_without_agent read line by line from the file's top level
// (see the rule in this file's comment). A missing file gives the
// defaults. It returns an error when the outbox cannot be told.
func Fallback(path string, id Identity) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, &Error{File: path, Msg: fmt.Sprintf("cannot read the file, so the outbox is unknown: %v", err)}
	}
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
			Msg: fmt.Sprintf("%q overlaps the store %q, so nothing can be queued there", c.Outbox, store)}
	}
	return c, nil
}

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
