package doctor

// Which configuration file does the running agent read? The lock names
// the agent's pid, and the agent finds its file as every homepost
// command does (config.DefaultPath): $HOMEPOST_CONFIG, else
// $XDG_CONFIG_HOME/homepost/config.toml, else under $HOME. Its
// environment as it started is in /proc/PID/environ, readable by the
// user. A check run with another HOMEPOST_CONFIG (or XDG_CONFIG_HOME, or
// HOME) shares the agent's queue when both files name the same state
// directory, but not its settings: what check says of its own file is
// then not what the agent does, and an error in it is no reason to say
// that the agent keeps an older version.

import (
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"

	"homepost/config"
)

// agentConfigFile returns the configuration file that process pid (an
// agent) reads, as its environment resolves it; "" when that cannot be
// told (its environment cannot be read, or its HOMEPOST_CONFIG is a
// relative name, which named a file from where it started).
func agentConfigFile(pid int) string {
	b, err := os.ReadFile(procRoot + "/" + strconv.Itoa(pid) + "/environ")
	if err != nil || len(b) == 0 {
		return ""
	}
	env := map[string]string{}
	for _, kv := range strings.Split(string(b), "\x00") {
		if k, v, ok := strings.Cut(kv, "="); ok {
			if _, seen := env[k]; !seen { // getenv takes the first
				env[k] = v
			}
		}
	}
	if p := env["HOMEPOST_CONFIG"]; p != "" {
		if !filepath.IsAbs(p) {
			return ""
		}
		return filepath.Clean(p)
	}
	if x := env["XDG_CONFIG_HOME"]; x != "" && filepath.IsAbs(x) {
		return filepath.Join(x, "homepost", "config.toml")
	}
	// As settings.CurrentUser: $HOME, unless it is unset, relative or
	// "/" (no home), when the password database's entry is taken.
	home := env["HOME"]
	if home == "" || !filepath.IsAbs(home) || filepath.Clean(home) == "/" {
		// The agent's lock is in the user's state directory: it
		// runs as the user.
		if u, err := user.LookupId(strconv.Itoa(os.Getuid())); err == nil && u.HomeDir != "" {
			home = u.HomeDir
		}
	}
	if home == "" || !filepath.IsAbs(home) {
		return ""
	}
	return filepath.Join(home, ".config", "homepost", "config.toml")
}

// OtherConfig returns the file that the running agent (process pid)
// reads when it is not the one check reads (cfg's), else "": the same
// file, or one that cannot be told.
func OtherConfig(cfg *config.Config, pid int) string {
	if pid <= 0 {
		return ""
	}
	theirs := agentConfigFile(pid)
	if theirs == "" {
		return ""
	}
	ours := config.DefaultPath(cfg.Home)
	if filepath.Clean(ours) == theirs {
		return ""
	}
	a, err1 := os.Stat(ours)
	b, err2 := os.Stat(theirs)
	if err1 == nil && err2 == nil && os.SameFile(a, b) {
		return "" // the same file by another name
	}
	return theirs
}
