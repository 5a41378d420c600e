package forwarder

import (
	"fmt"
	"path/filepath"
	"slices"
	"strings"

	"homepost/config"
)

// Kinds of file in a FileReport.
const (
	KindAliases       = "aliases"        // the user's aliases file
	KindSystemAliases = "system aliases" // /etc/aliases
	KindInclude       = "include"        // a :include: file
	KindForward       = "forward"        // ~/.forward
)

// configKey is the config.toml key that names each kind of file.
var configKey = map[string]string{KindAliases: "aliases", KindSystemAliases: "system_aliases", KindForward: "forward"}

// FileReport is what Check found in one file.
type FileReport struct {
	Path   string
	Kind   string // KindAliases, KindSystemAliases, KindInclude or KindForward
	Exists bool
	// Ignored says why the file is not obeyed (ownership, mode, a read
	// error), or "".
	Ignored string
	// Entries counts aliases (aliases files) or values (the others).
	Entries int
	// Longest is the longest right-hand side and Total the bytes of all
	// names and right-hand sides, as sendmail's newaliases reports them.
	Longest, Total int
	// Errors make newaliases exit 78; Warnings do not.
	Errors, Warnings []error
}

// Check reads the user's aliases, the system aliases, the :include:
// files they name and ~/.forward, for newaliases and homepost check. It
// returns a report per file that exists or is named, and every error
// (as "file:line: reason"); warnings stay in the reports.
func Check(cfg *config.Config) ([]FileReport, []error) {
	return checkFiles(cfg, true)
}

// checkFiles is Check; lines says whether the values of the user's
// files are looked at too (lineProblems). WatchPaths, which needs only
// the paths, goes without: the agent calls it at every reload, and a
// name may have to be asked of getent(1), a command's of /bin/sh.
func checkFiles(cfg *config.Config, lines bool) ([]FileReport, []error) {
	var reports []FileReport
	seen := map[string]bool{}
	named := namedSettings(cfg)
	f := New(cfg, nil)
	var includes []struct {
		path string
		user bool
		from string
	}
	// from is the file:line that names an :include: file, "" for the
	// others.
	add := func(path, kind string, fkind fileKind, groupOK, userFile bool, from string) *parsed {
		seen[path] = true
		p := readParsed(path, fkind, cfg.UID, cfg.User, groupOK)
		r := FileReport{Path: path, Kind: kind, Exists: !p.missing, Ignored: p.unsafe}
		// Problems with files the user cannot change (the system aliases)
		// are warnings: newaliases must not fail for them.
		var e error
		if p.readErr != nil {
			e = fmt.Errorf("%s: %w", path, p.readErr)
			r.Ignored = p.readErr.Error()
		}
		if p.unsafe != "" {
			e = fmt.Errorf("%s: ignored: %s", path, p.unsafe)
		}
		if e != nil && from != "" {
			// Said from the line that names it, as every other
			// message here begins with its file:line.
			e = fmt.Errorf("%s: :include:%s ignored: %s; mail for it is kept in the local store", from, path, problem(p))
		}
		if p.missing {
			// A path config.toml names, not the default, that does
			// not exist: most likely a typo, not "no file".
			for _, n := range named {
				if n.path == path && n.key == configKey[kind] {
					e = missingFile{n}
				}
			}
			if e != nil {
				r.Warnings = append(r.Warnings, e)
				e = nil
			}
		}
		if e != nil {
			if userFile {
				r.Errors = append(r.Errors, e)
			} else {
				r.Warnings = append(r.Warnings, e)
			}
		}
		for _, e := range p.errs {
			switch pe, ok := e.(*ParseError); {
			case IsWarning(e):
				r.Warnings = append(r.Warnings, e)
			case !userFile && ok:
				// A line the user cannot change: said, as a warning.
				w := *pe
				w.Warning = true
				r.Warnings = append(r.Warnings, &w)
			case !userFile:
				r.Warnings = append(r.Warnings, e)
			default:
				r.Errors = append(r.Errors, e)
			}
		}
		if lines && userFile && (kind != KindInclude || p.owner == cfg.UID) && p.usable() {
			// Not errors: the file is right, what it names is not
			// (yet); newaliases must not fail for it.
			r.Warnings = append(r.Warnings, f.lineProblems(p, true)...)
		}
		note := func(vals []value) {
			for _, v := range vals {
				if inc, ok := strings.CutPrefix(v.text, ":include:"); ok {
					inc = strings.TrimSpace(inc)
					if userFile {
						inc = cfg.Expand(inc)
					}
					includes = append(includes, struct {
						path string
						user bool
						from string
					}{inc, userFile, fmt.Sprintf("%s:%d", path, v.line)})
				}
			}
		}
		for _, a := range p.aliases {
			r.Entries++
			r.Longest = max(r.Longest, len(a.rhs))
			r.Total += len(a.name) + len(a.rhs)
			note(a.values)
		}
		for _, v := range p.values {
			r.Entries++
			r.Longest = max(r.Longest, len(v.text))
			r.Total += len(v.text)
		}
		note(p.values)
		if r.Exists || r.Ignored != "" || len(r.Errors) > 0 || len(r.Warnings) > 0 {
			reports = append(reports, r)
		}
		return p
	}
	add(cfg.Aliases, KindAliases, aliasesFile, false, true, "")
	if cfg.SystemAliases != "" {
		add(cfg.SystemAliases, KindSystemAliases, aliasesFile, true, false, "")
	}
	add(cfg.Forward, KindForward, listFile, false, true, "")
	for i := 0; i < len(includes); i++ {
		inc := includes[i]
		if seen[inc.path] || !filepath.IsAbs(inc.path) {
			continue
		}
		p := add(inc.path, KindInclude, listFile, false, inc.user, inc.from)
		if p.missing {
			e := fmt.Errorf("%s: :include:%s: no such file; mail for it is kept in the local store", inc.from, inc.path)
			r := FileReport{Path: inc.path, Kind: KindInclude}
			if inc.user {
				r.Errors = append(r.Errors, e)
			} else {
				r.Warnings = append(r.Warnings, e)
			}
			reports = append(reports, r)
		}
	}
	var errs []error
	for _, r := range reports {
		errs = append(errs, r.Errors...)
	}
	return reports, errs
}

// WatchPaths lists the files whose change should make the agent reload:
// the user's aliases, the system aliases, ~/.forward and the :include:
// files they name. Resolve notices changed files by itself; the list lets
// the agent log the change and re-check them promptly.
func WatchPaths(cfg *config.Config) []string {
	reports, _ := checkFiles(cfg, false)
	paths := []string{cfg.Aliases, cfg.Forward}
	if cfg.SystemAliases != "" {
		paths = append(paths, cfg.SystemAliases)
	}
	for _, r := range reports {
		if !slices.Contains(paths, r.Path) {
			paths = append(paths, r.Path)
		}
	}
	return paths
}
