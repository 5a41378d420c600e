// Package config loads homepost's optional TOML configuration and resolves
// every path the program uses.
//
// No file means the embedded defaults: a new user runs homepost with zero
// configuration. A file that exists is strict: an unknown key or a bad value
// is an error that names the key and the file:line, so a typo never silently
// changes where mail goes.
//
// Every key is documented, with its default, in config.example.toml at the
// top of the repository; a test loads that file.
//
// The values themselves (the Config type, its defaults, the derived paths
// and their validation) live in package settings, which links no TOML
// parser, for the sendmail program that starts once per message; this
// package adds the TOML file and its error reporting. The types below are
// settings' types under their usual names.
package config

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"

	"homepost/settings"
)

// The configuration's types, defined in package settings.
type (
	// Config is the parsed configuration with every path made absolute.
	Config = settings.Config
	// Relay is the [relay] table: the smarthost for remote mail.
	Relay = settings.Relay
	// SMTP is the [smtp] table: the agent's SMTP listener.
	SMTP = settings.SMTP
	// Size is a byte count: an integer, or a string such as "50M".
	Size = settings.Size
	// Duration is a time.Duration that also accepts days ("5d").
	Duration = settings.Duration
	// Error is a configuration error; it exits 78 (EX_CONFIG).
	Error = settings.Error
	// Identity is who homepost runs for.
	Identity = settings.Identity
)

// Functions of package settings, under their usual names.
var (
	// DefaultPath is where the config file is looked for.
	DefaultPath = settings.DefaultPath
	// Defaults returns the embedded configuration for the given user.
	Defaults = settings.Defaults
	// NewIdentity builds an Identity; tests use it to run as a made-up user.
	NewIdentity = settings.NewIdentity
	// ParseSize parses "1048576", "512K", "50M", "1G".
	ParseSize = settings.ParseSize
	// ParseDuration is time.ParseDuration plus a leading days term.
	ParseDuration = settings.ParseDuration
	// CheckLoopback accepts a loopback "IP:PORT" or "localhost:PORT".
	CheckLoopback = settings.CheckLoopback
	// RuntimeDir is $XDG_RUNTIME_DIR when it is a runtime directory
	// (the user's, mode 0700), else "" and why.
	RuntimeDir = settings.RuntimeDir
)

// Load reads the configuration from DefaultPath. A missing file gives the
// defaults; HOMEPOST_CONFIG naming a missing file is an error.
func Load() (*Config, error) {
	cfg, _, _, err := loadDefault()
	return cfg, err
}

// loadDefault is Load, also returning the user and the file it read for a
// caller that falls back on an error (LoadQueue); path is "" when the
// user cannot be found.
func loadDefault() (cfg *Config, id Identity, path string, err error) {
	id, err = settings.CurrentUser()
	if err != nil {
		return nil, id, "", err
	}
	path = DefaultPath(id.Home())
	cfg, err = LoadFile(path, id)
	if errors.Is(err, os.ErrNotExist) && os.Getenv("HOMEPOST_CONFIG") == "" {
		cfg = Defaults(id)
		if e := cfg.CheckQueue(); e != nil {
			// No file to blame: the place comes from XDG_STATE_HOME.
			e.Msg += defaultPlace // no file: File stays ""
			return nil, id, path, e
		}
		return cfg, id, path, nil
	}
	return cfg, id, path, err
}

// LoadFile reads one config file for the given identity. A missing
// file is an error satisfying errors.Is(err, os.ErrNotExist), which
// Load takes for the defaults; a file behind a symbolic link to nothing
// is not missing but unknown (readError).
func LoadFile(path string, id Identity) (*Config, error) {
	data, err := settings.ReadConfig(path, id)
	if err != nil {
		return nil, readError(path, err)
	}
	return decodeFile(path, data, id)
}

// readError is the error for a config file that cannot be read. A
// symbolic link to nothing on its path (a dotfiles checkout that was
// moved, a mount that is not there) is named with what it points to,
// and is not an os.ErrNotExist: the file is there, and what it would
// say is unknown, so the defaults must not stand in for it.
func readError(path string, err error) error {
	var ce *Error
	if errors.As(err, &ce) {
		return ce // refused by settings.ReadConfig, saying why
	}
	if errors.Is(err, os.ErrNotExist) {
		link, target := settings.DanglingLink(path)
		switch {
		case link == "":
			return fmt.Errorf("%s: %w", path, err)
		case link == filepath.Clean(path):
			return &Error{File: path, Msg: fmt.Sprintf("a symbolic link to %s, which does not exist (fix the link, or remove it to use the defaults)", target)}
		default:
			return &Error{File: path, Msg: fmt.Sprintf("%s, on the file's path, is a symbolic link to %s, which does not exist (fix the link, or remove it to use the defaults)", link, target)}
		}
	}
	var pe *os.PathError
	if errors.As(err, &pe) && pe.Path == path {
		return &Error{File: path, Msg: fmt.Sprintf("cannot %s the file: %v", pe.Op, pe.Err)}
	}
	return &Error{File: path, Msg: err.Error()}
}

// hideSecret returns the decoder's message for an error at line, unless
// the key or the line is about a password: the decoder quotes the text
// it choked on, which would put the secret into logs and on the screen.
func hideSecret(data []byte, line int, key, msg string) string {
	secret := strings.HasSuffix(strings.ToLower(key), "password")
	if line > 0 {
		lines := bytes.SplitN(data, []byte("\n"), line+1)
		if line <= len(lines) && bytes.Contains(bytes.ToLower(lines[line-1]), []byte("password")) {
			secret = true
		}
	}
	if !secret {
		return msg
	}
	return "invalid value or syntax (not shown: the line holds a password)"
}

// typeErr matches the decoder's type errors, which are not ParseErrors.
// It is compiled on first use: sendmail starts for every message.
var typeErr = sync.OnceValue(func() *regexp.Regexp {
	return regexp.MustCompile(`^toml: line (\d+) \(last key "([^"]*)"\): (.*)$`)
})

// keyLine finds the line that sets key (as ["relay", "url"]) by scanning the
// file: the TOML decoder does not expose positions of decoded keys.
func keyLine(data []byte, key []string) int {
	if len(key) == 0 {
		return 0
	}
	table := ""
	want := strings.Join(key[:len(key)-1], ".")
	name := key[len(key)-1]
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 64*1024), 1<<20)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if strings.HasPrefix(line, "[") {
			table = strings.Trim(strings.TrimSpace(strings.Trim(line, "[]")), `"`)
			if table == strings.Join(key, ".") {
				return n
			}
			continue
		}
		k, _, ok := strings.Cut(line, "=")
		if !ok {
			continue
		}
		k = strings.Trim(strings.TrimSpace(k), `"`)
		if (table == want && k == name) || (table == "" && k == strings.Join(key, ".")) {
			return n
		}
	}
	return 0
}
