package main

import (
	"errors"
	"fmt"
	"os"
	"syscall"

	"homepost/agent"
	"homepost/forwarder"
	"homepost/submit"
	"homepost/sysexits"
)

func init() {
	register(command{
		name:    "newaliases",
		aliases: []string{"newaliases"},
		summary: "check and report the alias files like sendmail; the agent reloads",
		run:     runNewaliases,
	})
}

const newaliasesUsage = `usage: newaliases

Reads the user's aliases file (~/.config/homepost/aliases) and the system
aliases (/etc/aliases, config system_aliases), with the :include: files
they name, and prints for each file

  PATH: N aliases, longest N bytes, N bytes total

as sendmail does. There is no database to rebuild: the files are read as
they are. A running agent is told to reload (SIGHUP). Same as sendmail -bi.

Exit status: 0, or 78 after printing every "file:line: reason" when a
file has a syntax error or is ignored for its owner or mode, or for a
directory on its path that others can write (an :include: file is named
with the aliases line that names it). A file target that names a
directory but no Maildir (written without its trailing '/') is a
warning, and so is an alias whose mail can only loop back to it, a
command whose program is not found, or a name that is neither a login
nor an alias (every message to it bounces). See newaliases(8) and
homepost-forward(5).
`

// runNewaliases is newaliases and sendmail -bi.
func runNewaliases(args []string) int {
	for _, a := range args {
		switch a {
		case "-h", "--help":
			fmt.Print(newaliasesUsage)
			return sysexits.OK
		case "-v", "-bi":
		default:
			fail("newaliases", fmt.Errorf("unknown option %s", a))
			fmt.Fprint(os.Stderr, "usage: newaliases; see newaliases --help\n")
			return sysexits.Usage
		}
	}
	cfg, code := loadConfig("newaliases")
	if cfg == nil {
		return code
	}
	submit.WakeWaiting(cfg)
	reports, _ := forwarder.Check(cfg)
	failed := false
	for _, r := range reports {
		if r.Kind == forwarder.KindForward {
			continue // not an alias file; homepost check reports it
		}
		for _, e := range r.Warnings {
			fail("newaliases", e)
		}
		for _, e := range r.Errors {
			fail("newaliases", e)
			failed = true
		}
		if r.Exists && r.Ignored == "" && r.Kind != forwarder.KindInclude {
			fmt.Printf("%s: %d aliases, longest %d bytes, %d bytes total\n", r.Path, r.Entries, r.Longest, r.Total)
		}
	}
	// An alias loop is no error of the file's syntax: said, and the
	// file is taken as it is (sendmail and Postfix say nothing).
	for _, e := range forwarder.Loops(cfg) {
		fail("newaliases", e)
	}
	if failed {
		return sysexits.Config
	}
	if err := agent.Signal(cfg, syscall.SIGHUP); err != nil && !errors.Is(err, agent.ErrNotRunning) {
		fail("newaliases", fmt.Errorf("tell the agent to reload: %w", err))
	}
	return sysexits.OK
}
