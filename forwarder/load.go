package forwarder

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"homepost/config"
	"homepost/safeio"
)

// Load reads the files that steer forwarding — the user's aliases, the
// system aliases, ~/.forward and the :include: files the aliases name —
// and logs what is wrong with them, file:line, once. The agent calls it
// when it reads its configuration (at its start and at every reload), so
// that a line that cannot be read is said when the file is read, not
// first when a message needs it, nor again for every message. A file
// read again later because it changed is logged again then (cache.load).
func (f *Forwarder) Load() {
	if f.log == nil {
		return
	}
	cfg := f.cfg
	for _, m := range f.missingNamed() {
		f.log.Warn("forwarding file", "reason", m.Error())
	}
	var includes []string
	for _, file := range []struct {
		path  string
		kind  fileKind
		group bool
	}{{cfg.Aliases, aliasesFile, false}, {cfg.SystemAliases, aliasesFile, true}, {cfg.Forward, listFile, false}} {
		if file.path == "" {
			continue
		}
		p := f.files.load(file.path, file.kind, cfg.UID, file.group)
		if p.unsafe != "" || p.readErr != nil {
			f.log.Warn("forwarding file", "reason", fmt.Sprintf("%s ignored: %s", p.path, problem(p)))
		}
		if file.path != cfg.SystemAliases && p.usable() {
			f.logLineProblems(p)
		}
		for _, a := range p.aliases {
			for _, v := range a.values {
				if inc, ok := strings.CutPrefix(v.text, ":include:"); ok && file.path == cfg.Aliases {
					includes = append(includes, cfg.Expand(strings.TrimSpace(inc)))
				} else if ok {
					includes = append(includes, strings.TrimSpace(inc))
				}
			}
		}
	}
	for _, inc := range includes {
		if filepath.IsAbs(inc) {
			if p := f.files.load(inc, listFile, cfg.UID, false); p.usable() && p.owner == cfg.UID {
				f.logLineProblems(p)
			}
		}
	}
}

// logLineProblems logs the lines of p, a file of the user's, that read
// well but will not be delivered as meant: a file target that names a
// directory but no Maildir (its mail waits in the queue), a command
// whose program is not found (its mail bounces). Said when the files
// are read, as their other problems are; the deferral's or the bounce's
// reason says it again for each message, without the line.
func (f *Forwarder) logLineProblems(p *parsed) {
	for _, err := range f.lineProblems(p, false) {
		f.log.Warn("forwarding file", "reason", err.Error())
	}
}

// logProblems logs the problems found in a file just parsed.
func (c *cache) logProblems(p *parsed) {
	if c.log == nil {
		return
	}
	for _, err := range p.errs {
		c.log.Warn("forwarding file", "reason", err.Error())
	}
}

// setting is a path that config.toml sets for the forwarder.
type setting struct {
	key   string // the config key
	path  string // its value, as used
	at    string // where config.toml sets it: "file:line"
	what  string // what the file is, for messages
	alias bool   // an aliases file (its absence can hide an alias)
}

// missingFile is a file that config.toml names, not by default, and
// that does not exist: most likely a typo, which must not pass for "no
// aliases" (mail bouncing as "user unknown") or "no forwarding".
type missingFile struct{ setting }

func (m missingFile) Error() string {
	then := "mail for a name that no other file knows waits in the queue until it does"
	if !m.alias {
		then = "mail for you goes to the local store"
	}
	return fmt.Sprintf("%s: %s names %s, which does not exist: %s", m.at, m.key, m.path, then)
}

// missingNamed lists the files that config.toml names, not by default,
// and that do not exist.
func (f *Forwarder) missingNamed() []missingFile {
	var out []missingFile
	for _, s := range f.named() {
		if _, err := os.Stat(s.path); os.IsNotExist(err) {
			out = append(out, missingFile{s})
		}
	}
	return out
}

// named returns, once, the forwarder's paths that config.toml sets.
func (f *Forwarder) named() []setting {
	f.namedOnce.Do(func() { f.namedList = namedSettings(f.cfg) })
	return f.namedList
}

// namedSetting is the setting of key to path in config.toml, or nil when
// config.toml does not set it (the default, or a value equal to it).
func (f *Forwarder) namedSetting(key, path string) *setting {
	for _, s := range f.named() {
		if s.key == key && s.path == path {
			return &s
		}
	}
	return nil
}

// namedSettings finds the keys aliases, system_aliases and forward that
// cfg's file sets to something else than the default, and their lines.
// A value equal to the default is no mistake to point out when its file
// is missing (config.example.toml sets forward = "~/.forward"): no file
// there means no aliases, or no forwarding, as without the key.
func namedSettings(cfg *config.Config) []setting {
	if cfg.File == "" {
		return nil
	}
	// Not os.ReadFile: config.toml replaced by a FIFO would block the
	// agent's reload for good.
	data, err := safeio.ReadRegular(cfg.File, maxFile)
	if err != nil {
		return nil
	}
	def := config.Defaults(config.NewIdentity(cfg.User, cfg.Home, cfg.FullName, cfg.UID))
	var out []setting
	for _, s := range []setting{
		{key: "aliases", path: cfg.Aliases, what: "aliases file", alias: true},
		{key: "system_aliases", path: cfg.SystemAliases, what: "system aliases file", alias: true},
		{key: "forward", path: cfg.Forward, what: "forward file"},
	} {
		var dflt string
		switch s.key {
		case "aliases":
			dflt = def.Aliases
		case "system_aliases":
			dflt = def.SystemAliases
		case "forward":
			dflt = def.Forward
		}
		if s.path == "" || s.path == dflt {
			continue
		}
		if n := topLevelLine(data, s.key); n > 0 {
			s.at = fmt.Sprintf("%s:%d", cfg.File, n)
			out = append(out, s)
		}
	}
	return out
}

// topLevelLine is the line of data, a TOML file, that sets key before
// any [table], or 0. The TOML decoder does not tell where a key was.
func topLevelLine(data []byte, key string) int {
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 64*1024), 1<<20)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(strings.TrimPrefix(sc.Text(), "\ufeff"))
		if strings.HasPrefix(line, "[") {
			return 0
		}
		k, _, ok := strings.Cut(line, "=")
		if !ok || strings.HasPrefix(line, "#") {
			continue
		}
		if strings.Trim(strings.TrimSpace(k), `"'`) == key {
			return n
		}
	}
	return 0
}
