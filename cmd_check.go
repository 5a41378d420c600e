package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"github.com/emersion/go-smtp"

	"homepost/agent"
	"homepost/capture"
	"homepost/config"
	"homepost/forwarder"
	"homepost/relay"
	"homepost/report"
	"homepost/sysexits"
)

func init() {
	register(command{
		name:    "check",
		summary: "check the setup: config, outbox, store, aliases, agent, relay, PATH, cron",
		run:     runCheck,
	})
}

const checkUsage = `usage: homepost check [--relay]

Checks that mail will flow and prints one line per item, starting with
ok, warn or FAIL: the config file, that the outbox and the store are
writable, the alias files and ~/.forward (parsed, safe owner and mode),
the agent and its systemd unit, lingering, the relay, which sendmail and
mail come first on PATH and at /usr/sbin/sendmail, and whether cron's
mail reaches homepost.

  --relay   connect to the smarthost and set up TLS (and authenticate,
            where supported); nothing is sent

Exit status: 0 when nothing FAILs, 1 when something does, 78 when the
configuration cannot be loaded (the line names file:line). See homepost(1).
`

// checker prints the verdicts and remembers whether anything failed.
type checker struct {
	w      io.Writer
	failed bool
	config bool // a configuration error: exit 78
}

func (c *checker) line(verdict, item, format string, args ...any) {
	fmt.Fprintf(c.w, "%-4s %s: %s\n", verdict, item, fmt.Sprintf(format, args...))
}

func (c *checker) ok(item, format string, args ...any)   { c.line("ok", item, format, args...) }
func (c *checker) warn(item, format string, args ...any) { c.line("warn", item, format, args...) }
func (c *checker) fail(item, format string, args ...any) {
	c.failed = true
	c.line("FAIL", item, format, args...)
}

func runCheck(args []string) int {
	probe := false
	for _, a := range args {
		switch a {
		case "-h", "--help":
			fmt.Print(checkUsage)
			return sysexits.OK
		case "--relay":
			probe = true
		default:
			fail("check", fmt.Errorf("unknown option %s", a))
			return sysexits.Usage
		}
	}
	c := &checker{w: os.Stdout}
	cfg, err := config.Load()
	if err != nil {
		c.fail("config", "%v", err)
		return sysexits.Config
	}
	if cfg.File != "" {
		c.ok("config", "%s parsed", cfg.File)
	} else {
		c.ok("config", "no file at %s; using the defaults", config.DefaultPath(cfg.Home))
	}
	checkOutbox(c, cfg)
	checkStore(c, cfg)
	checkForwarding(c, cfg)
	checkAgent(c, cfg)
	checkRelay(c, cfg, probe)
	checkPath(c)
	checkCron(c)
	switch {
	case c.config:
		return sysexits.Config
	case c.failed:
		return 1
	}
	return sysexits.OK
}

// writableDir reports whether a file can be created in dir, by creating
// one (the only test that is right for root, ACLs and read-only mounts).
// A directory that does not exist yet is judged by its nearest existing
// parent, since homepost creates it on first use.
func writableDir(dir string) (string, error) {
	d := dir
	for {
		st, err := os.Stat(d)
		if err == nil {
			if !st.IsDir() {
				return d, fmt.Errorf("%s is not a directory", d)
			}
			break
		}
		if !errors.Is(err, os.ErrNotExist) {
			return d, err
		}
		parent := filepath.Dir(d)
		if parent == d {
			return d, err
		}
		d = parent
	}
	f, err := os.CreateTemp(d, ".homepost-check-*")
	if err != nil {
		return d, err
	}
	f.Close()
	os.Remove(f.Name())
	return d, nil
}

// checkDir reports whether files can be created in dir/tmp, where
// Maildir writers (and the outbox) create them.
func checkDir(c *checker, item, dir string) {
	at, err := writableDir(filepath.Join(dir, "tmp"))
	switch {
	case err != nil:
		c.fail(item, "%s is not writable: %v", dir, err)
	case !strings.HasPrefix(at, filepath.Clean(dir)):
		c.ok(item, "%s will be created (in %s, writable)", dir, at)
	default:
		c.ok(item, "%s writable", dir)
	}
}

func checkOutbox(c *checker, cfg *config.Config) {
	checkDir(c, "outbox", cfg.Outbox)
	n := 0
	for _, sub := range []string{"new", "cur"} {
		names, _ := os.ReadDir(filepath.Join(cfg.Outbox, sub))
		n += len(names)
	}
	if n > 0 {
		c.ok("queue", "%d message(s) waiting (mailq lists them)", n)
	}
}

func checkStore(c *checker, cfg *config.Config) {
	kind, path := cfg.StoreKind()
	if kind == "maildir" {
		checkDir(c, "store", path)
		return
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
	switch {
	case err == nil:
		f.Close()
		c.ok("store", "mbox %s writable", path)
	case errors.Is(err, os.ErrNotExist):
		if at, err := writableDir(filepath.Dir(path)); err != nil {
			c.fail("store", "mbox %s cannot be created: %v", path, err)
		} else {
			c.ok("store", "mbox %s will be created (in %s, writable)", path, at)
		}
	default:
		c.fail("store", "mbox %s is not writable: %v", path, err)
	}
}

// checkForwarding reports the alias files, ~/.forward and the :include:
// files they name, as newaliases reads them.
func checkForwarding(c *checker, cfg *config.Config) {
	reports, _ := forwarder.Check(cfg)
	seen := map[string]bool{}
	for _, r := range reports {
		seen[r.Kind] = true
		item := r.Kind
		switch {
		case len(r.Errors) > 0:
			for _, e := range r.Errors {
				c.fail(item, "%v", e)
			}
		case len(r.Warnings) > 0:
			for _, e := range r.Warnings {
				c.warn(item, "%v", e)
			}
		case r.Kind == forwarder.KindForward:
			c.ok(item, "%s: %d target(s); owner and mode safe", r.Path, r.Entries)
		default:
			c.ok(item, "%s: %d entr%s", r.Path, r.Entries, map[bool]string{true: "y", false: "ies"}[r.Entries == 1])
		}
	}
	if !seen[forwarder.KindAliases] {
		c.ok(forwarder.KindAliases, "none (%s does not exist)", cfg.Aliases)
	}
	if !seen[forwarder.KindSystemAliases] {
		if cfg.SystemAliases == "" {
			c.ok(forwarder.KindSystemAliases, "turned off (system_aliases = \"\")")
		} else {
			c.ok(forwarder.KindSystemAliases, "none (%s does not exist)", cfg.SystemAliases)
		}
	}
	if !seen[forwarder.KindForward] {
		c.ok(forwarder.KindForward, "none (%s does not exist): mail for you goes to %s", cfg.Forward, cfg.Store)
	}
}

func checkAgent(c *checker, cfg *config.Config) {
	if pid, ok := agent.Running(cfg); ok {
		c.ok("agent", "running (pid %d)", pid)
	} else if cfg.DeliverWithoutAgent {
		c.warn("agent", "not running; sendmail starts a background delivery where none runs (start the agent: systemctl --user enable --now homepost)")
	} else {
		c.fail("agent", "not running and deliver_without_agent = false: mail waits in the queue (systemctl --user enable --now homepost)")
	}

	if _, err := exec.LookPath("systemctl"); err != nil {
		c.warn("unit", "systemctl not found: no systemd unit to check")
	} else {
		out, _ := capture.Output([]string{"systemctl", "--user", "is-active", "homepost.service"}, report.UnitTimeout, 256<<10)
		state := firstLine(out)
		switch state {
		case "active", "activating", "reloading":
			c.ok("unit", "homepost.service is %s", state)
		case "":
			c.warn("unit", "systemctl --user is-active said nothing")
		default:
			if strings.Contains(state, "bus") || strings.Contains(state, "connect") {
				c.warn("unit", "no systemd user instance (%s)", state)
			} else {
				c.warn("unit", "homepost.service is %s (systemctl --user enable --now homepost)", state)
			}
		}
	}

	if _, err := exec.LookPath("loginctl"); err != nil {
		c.warn("linger", "loginctl not found: cannot tell whether the agent keeps running after logout")
		return
	}
	out, _ := capture.Output([]string{"loginctl", "show-user", cfg.User, "-p", "Linger"}, report.UnitTimeout, 256<<10)
	switch v := parseLinger(out); v {
	case "yes":
		c.ok("linger", "on: the agent runs while you are logged out")
	case "no":
		c.warn("linger", "off: your systemd instance and the agent stop at logout; mail is then delivered by background deliveries that sendmail starts (loginctl enable-linger %s)", cfg.User)
	default:
		c.warn("linger", "cannot tell (%s)", firstLine(out))
	}
}

// parseLinger reads "Linger=yes" from loginctl show-user output.
func parseLinger(out []byte) string {
	for _, l := range strings.Split(string(out), "\n") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(l), "Linger="); ok {
			return strings.TrimSpace(v)
		}
	}
	return ""
}

func firstLine(b []byte) string {
	s, _, _ := strings.Cut(strings.TrimSpace(string(b)), "\n")
	return strings.TrimSpace(s)
}

func checkRelay(c *checker, cfg *config.Config, probe bool) {
	cl, err := relay.New(cfg, nil)
	if err != nil {
		c.fail("relay", "%v", err)
		var ce *config.Error
		if errors.As(err, &ce) {
			c.config = true
		}
		return
	}
	if !cl.Configured() {
		c.warn("relay", "no [relay] url: remote mail waits in the queue (see homepost.toml(5))")
		return
	}
	if !probe {
		c.ok("relay", "%s (homepost check --relay connects)", cfg.Relay.URL)
		return
	}
	if err := probeRelay(cl, cfg); err != nil {
		c.fail("relay", "%s: %v", cfg.Relay.URL, err)
		return
	}
	c.ok("relay", "%s reachable; %s", cfg.Relay.URL, probeWhat(cl, cfg))
}

// ourBinary is this program with symlinks resolved, to recognise our
// links on PATH.
func ourBinary() string {
	exe, err := os.Executable()
	if err != nil {
		return ""
	}
	if p, err := filepath.EvalSymlinks(exe); err == nil {
		return p
	}
	return exe
}

// whose says what path runs: "homepost", or the program it resolves to.
func whose(path string) (string, bool) {
	real, err := filepath.EvalSymlinks(path)
	if err != nil {
		return path, false
	}
	if real == ourBinary() {
		return "homepost", true
	}
	if real != path {
		return path + " -> " + real, false
	}
	return path, false
}

func checkPath(c *checker) {
	for _, name := range []string{"sendmail", "mail"} {
		p, err := exec.LookPath(name)
		if err != nil {
			c.warn("PATH", "no %s on PATH (make install links it into the BINDIR; put that on PATH)", name)
			continue
		}
		if w, ours := whose(p); ours {
			c.ok("PATH", "%s is %s (homepost)", name, p)
		} else {
			c.warn("PATH", "%s first on PATH is %s, not homepost", name, w)
		}
	}
	const sys = "/usr/sbin/sendmail"
	if _, err := os.Lstat(sys); err != nil {
		c.warn("sendmail", "%s does not exist: system programs (cron, atd, sudo) cannot send mail (make install-system as root links it)", sys)
	} else if w, ours := whose(sys); ours {
		c.ok("sendmail", "%s is homepost", sys)
	} else {
		c.warn("sendmail", "%s is %s: system programs' mail goes there, not to homepost", sys, w)
	}
}

// checkCron tells whether cron's mail reaches homepost: cron hands job
// output to /usr/sbin/sendmail, unless the job is wrapped in homepost
// cron (with MAILTO="" so cron itself stays silent).
func checkCron(c *checker) {
	_, sysOurs := whose("/usr/sbin/sendmail")
	if _, err := exec.LookPath("crontab"); err != nil {
		if sysOurs {
			c.ok("cron", "no crontab command; /usr/sbin/sendmail is homepost")
		} else {
			c.ok("cron", "no crontab command here")
		}
		return
	}
	out, err := exec.Command("crontab", "-l").Output()
	if err != nil {
		c.ok("cron", "no crontab for you")
		return
	}
	ct := parseCrontab(string(out))
	switch {
	case ct.jobs == 0:
		c.ok("cron", "your crontab has no jobs")
	case sysOurs:
		c.ok("cron", "%d job(s); cron mails through /usr/sbin/sendmail, which is homepost", ct.jobs)
	case ct.wrapped == ct.jobs:
		c.ok("cron", "all %d job(s) run under homepost cron", ct.jobs)
	case ct.mailtoOff:
		c.warn("cron", "MAILTO=\"\" and %d of %d job(s) not under homepost cron: their output is lost", ct.jobs-ct.wrapped, ct.jobs)
	default:
		c.warn("cron", "%d of %d job(s) not under homepost cron and /usr/sbin/sendmail is not homepost: their output may not reach you (use homepost cron -- CMD)", ct.jobs-ct.wrapped, ct.jobs)
	}
}

// crontabSummary is what checkCron needs to know of a crontab.
type crontabSummary struct {
	jobs, wrapped int
	mailtoOff     bool // the last MAILTO before a job is empty
}

// parseCrontab counts the jobs of a crontab(5) file and those run through
// "homepost cron". Environment lines (NAME=value) and comments are not
// jobs.
func parseCrontab(s string) crontabSummary {
	var c crontabSummary
	for _, line := range strings.Split(s, "\n") {
		line = strings.TrimSpace(line)
		if line == "" || line[0] == '#' {
			continue
		}
		if k, v, ok := strings.Cut(line, "="); ok && !strings.ContainsAny(strings.TrimSpace(k), " \t*/,") {
			if strings.TrimSpace(k) == "MAILTO" {
				v = strings.Trim(strings.TrimSpace(v), `"'`)
				c.mailtoOff = v == ""
			}
			continue
		}
		f := strings.Fields(line)
		var cmd []string
		switch {
		case strings.HasPrefix(f[0], "@"):
			cmd = f[1:]
		case len(f) > 5:
			cmd = f[5:]
		default:
			continue
		}
		c.jobs++
		if wrappedCommand(cmd) {
			c.wrapped++
		}
	}
	return c
}

// wrappedCommand reports whether a cron command line runs homepost cron.
func wrappedCommand(cmd []string) bool {
	for i := 0; i+1 < len(cmd); i++ {
		if filepath.Base(cmd[i]) == "homepost" && cmd[i+1] == "cron" {
			return true
		}
	}
	return false
}

// prober is what relay.Client offers when it can connect and
// authenticate without sending anything.
type prober interface {
	Probe(ctx context.Context) error
}

// probeRelay connects to the smarthost: through the relay client's own
// probe when it has one (TLS and authentication exactly as deliveries do
// them), else a connection, the greeting, EHLO and TLS.
func probeRelay(cl *relay.Client, cfg *config.Config) error {
	rc := cfg.Relay
	ctx, cancel := context.WithTimeout(context.Background(), rc.ConnectTimeout.Duration+rc.CommandTimeout.Duration)
	defer cancel()
	if p, ok := any(cl).(prober); ok {
		return p.Probe(ctx)
	}
	return dialRelay(ctx, cfg)
}

func probeWhat(cl *relay.Client, cfg *config.Config) string {
	switch {
	case strings.HasPrefix(cfg.Relay.URL, "exec:"):
		return "the program is executable"
	case cfg.Relay.Username == "":
		return "no authentication configured"
	}
	if _, ok := any(cl).(prober); ok {
		return "logged in as " + cfg.Relay.Username
	}
	return "authentication not tried"
}

// dialRelay checks what can be checked without the relay client's help.
func dialRelay(ctx context.Context, cfg *config.Config) error {
	u := strings.TrimSpace(cfg.Relay.URL)
	if cmd, ok := strings.CutPrefix(u, "exec:"); ok {
		f := strings.Fields(cmd)
		st, err := os.Stat(f[0])
		if err != nil {
			return err
		}
		if st.IsDir() || st.Mode()&0o111 == 0 {
			return fmt.Errorf("%s is not executable", f[0])
		}
		return nil
	}
	pu, err := url.Parse(u)
	if err != nil {
		return errors.New("not a valid URL")
	}
	host := pu.Hostname()
	port := pu.Port()
	scheme := strings.ToLower(pu.Scheme)
	if port == "" {
		port = map[string]string{"smtps": "465", "smtp+starttls": "587", "submission": "587", "smtp": "25"}[scheme]
	}
	tconf := &tls.Config{ServerName: host, MinVersion: tls.VersionTLS12}
	if cfg.Relay.CAFile != "" {
		pool, err := x509.SystemCertPool()
		if err != nil || pool == nil {
			pool = x509.NewCertPool()
		}
		pem, err := os.ReadFile(cfg.Relay.CAFile)
		if err != nil {
			return err
		}
		pool.AppendCertsFromPEM(pem)
		tconf.RootCAs = pool
	}
	d := net.Dialer{Timeout: cfg.Relay.ConnectTimeout.Duration}
	conn, err := d.DialContext(ctx, "tcp", net.JoinHostPort(host, port))
	if err != nil {
		return err
	}
	defer conn.Close()
	if dl, ok := ctx.Deadline(); ok {
		conn.SetDeadline(dl)
	}
	var sc *smtp.Client
	switch scheme {
	case "smtps":
		tc := tls.Client(conn, tconf)
		if err := tc.HandshakeContext(ctx); err != nil {
			return fmt.Errorf("TLS: %w", err)
		}
		sc = smtp.NewClient(tc)
	case "smtp+starttls", "submission":
		if sc, err = smtp.NewClientStartTLS(conn, tconf); err != nil {
			return fmt.Errorf("STARTTLS: %w", err)
		}
	default:
		sc = smtp.NewClient(conn)
	}
	defer sc.Close()
	if err := sc.Hello(cfg.Hostname); err != nil {
		return fmt.Errorf("EHLO: %w", err)
	}
	if cfg.Relay.Username != "" && !sc.SupportsAuth("PLAIN") && !sc.SupportsAuth("LOGIN") {
		return errors.New("the server offers neither AUTH PLAIN nor AUTH LOGIN")
	}
	return sc.Quit()
}
