// Package doctor diagnoses a user's setup, as "homepost check" shows it:
// one line per item, ok, warn or FAIL, each saying what to do about it.
// It reads the configuration, tries the directories by creating a file
// in them (the only test that is right for root, ACLs and read-only
// mounts; a Maildir store as delivery uses it: a file made in tmp/ and
// renamed into new/), parses the alias files and ~/.forward as delivery
// would, asks the agent's lock, systemd and loginctl, and, when asked
// to, has the relay client connect and log in exactly as a delivery
// would (relay.Client.Probe). It changes nothing, but for two things
// that delivery would do anyway: it completes a Maildir store that
// lacks tmp/, new/ or cur/, and where mail waits and no agent runs, it
// starts the background delivery (submit.WakeWaiting).
//
// A configuration file with an error is reported with its file:line,
// and the checks that need only the queue's place (outbox, agent, PATH,
// cron) still run, on what the broken file tells (config.LoadQueue):
// mail is queued meanwhile, and delivery is held until the file is
// fixed.
package doctor

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"homepost/agent"
	"homepost/agentlock"
	"homepost/config"
	"homepost/forwarder"
	"homepost/maildir"
	"homepost/outbox"
	"homepost/relay"
	"homepost/safeio"
	"homepost/settings"
	"homepost/submit"
)

// Options say which checks to run beyond the local ones.
type Options struct {
	// Relay connects to the smarthost, sets up TLS and logs in;
	// nothing is sent.
	Relay bool
}

// Result is the verdict of a run.
type Result struct {
	Failed bool // a check FAILed
	Config bool // the configuration has an error (sysexits' EX_CONFIG)
}

// toolTimeout and toolMaxOutput bound each call of systemctl and
// loginctl.
const (
	toolTimeout   = 20 * time.Second
	toolMaxOutput = 256 << 10
)

// Run runs every check and writes one line per item to w.
func Run(w io.Writer, o Options) Result {
	c := &checker{w: w}
	cfg, err := config.LoadQueue()
	if cfg == nil {
		item := "config"
		var ce *config.Error
		if errors.As(err, &ce) && ce.Unsafe && (ce.Key == "outbox" || ce.Key == "state_dir") && ce.File == "" {
			item = "outbox" // no file: the default place is at fault
			err = errors.New(strings.TrimPrefix(err.Error(), ce.Key+": "))
		}
		c.fail(item, "%v", err)
		return Result{Failed: true, Config: true}
	}
	if err != nil {
		c.fail("config", "%v", err)
		c.config = true
		var unknown *config.UnknownOutbox
		if errors.As(err, &unknown) {
			c.fail("outbox", "%v: mail is queued in the default outbox, %s, until the file is fixed; should the fixed file name another outbox, homepost check then says how to move them there", unknown.Why, unknown.Outbox)
		}
		checkHeld(c, cfg)
		unit := unitState(cfg)
		cron := startCrontab()
		checkOutbox(c, cfg, false)
		checkAgent(c, cfg, unit, false)
		checkPath(c)
		checkCron(c, cron)
		return Result{Failed: c.failed, Config: c.config}
	}
	if cfg.File != "" {
		c.ok("config", "%s parsed", cfg.File)
	} else {
		c.ok("config", "no file at %s; using the defaults", config.DefaultPath(cfg.Home))
	}
	// The checks that run other programs start first and are read
	// when their lines are due.
	unit := unitState(cfg)
	cron := startCrontab()
	checkOutbox(c, cfg, true)
	checkStore(c, cfg)
	checkSetAside(c, cfg)
	checkPending(c, cfg)
	checkMailEnv(c, cfg, os.Getenv("MAIL"))
	checkDurability(c, cfg)
	checkSpace(c, cfg)
	checkForwarding(c, cfg)
	checkAgent(c, cfg, unit, true)
	checkSMTP(c, cfg)
	checkRelay(c, cfg, o.Relay)
	checkPath(c)
	checkCron(c, cron)
	return Result{Failed: c.failed, Config: c.config}
}

// checker prints the verdicts and remembers whether anything failed.
type checker struct {
	w      io.Writer
	failed bool
	config bool // a configuration error: exit 78
}

// line prints a verdict; a message of several lines (every error of a
// config file) gives one verdict line each.
func (c *checker) line(verdict, item, format string, args ...any) {
	for _, l := range strings.Split(fmt.Sprintf(format, args...), "\n") {
		fmt.Fprintf(c.w, "%-4s %s: %s\n", verdict, item, l)
	}
}

func (c *checker) ok(item, format string, args ...any)   { c.line("ok", item, format, args...) }
func (c *checker) warn(item, format string, args ...any) { c.line("warn", item, format, args...) }
func (c *checker) fail(item, format string, args ...any) {
	c.failed = true
	c.line("FAIL", item, format, args...)
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
	if link, target := settings.DanglingLink(dir); link != "" {
		c.fail(item, "%s: %s is a symbolic link to %s, which does not exist: nothing can be made there (create %s, or mend the link)", dir, link, target, target)
		return
	}
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

// checkMaildir checks a Maildir store as delivery uses it (courier's
// Maildir): a file there FAILs, saying how to name an mbox (store =
// "~/mbox" for one); a symbolic link to nothing on its path FAILs, naming it (the
// first delivery would make nothing there, and "will be created" would
// be untrue); an existing Maildir is completed (tmp/, new/, cur/) as
// delivery completes it before its first copy, and a file is made in
// tmp/ and renamed into new/, as each copy is, under a name beginning
// with a dot, which Maildir readers skip, and removed. cur/, which only
// readers write (to mark mail read), is asked with access(2).
func checkMaildir(c *checker, dir string) {
	if link, target := settings.DanglingLink(dir); link != "" {
		c.fail("store", "%s: %s is a symbolic link to %s, which does not exist: delivery cannot make the Maildir there (create %s, or mend the link)", dir, link, target, target)
		return
	}
	if plain := strings.TrimSuffix(dir, "/"); plain != "" {
		if st, err := os.Stat(plain); err == nil && st.Mode().IsRegular() {
			// An mbox named without "mbox:" (store = "~/mbox"):
			// delivery finds no directory there and the mail waits.
			c.fail("store", "%s is a file, not a Maildir: for the mbox there write store = %q (mail for the store waits until then)", plain, "mbox:"+plain)
			return
		}
	}
	st, err := os.Stat(dir)
	switch {
	case errors.Is(err, os.ErrNotExist):
		checkDir(c, "store", dir) // made by the first delivery
		return
	case err != nil:
		c.fail("store", "%s: %v", dir, err)
		return
	case !st.IsDir():
		c.fail("store", "%s is not a directory", dir)
		return
	}
	if err := maildir.Dir(dir).Init(); err != nil {
		c.fail("store", "%s cannot be completed as delivery would (tmp/, new/, cur/): %v", dir, err)
		return
	}
	tmp, nw := filepath.Join(dir, "tmp"), filepath.Join(dir, "new")
	f, err := os.CreateTemp(tmp, ".homepost-check-*")
	if err != nil {
		c.fail("store", "%s takes no file, so nothing can be delivered: %v", tmp, err)
		return
	}
	f.Close()
	probe := filepath.Join(nw, filepath.Base(f.Name()))
	if err := os.Rename(f.Name(), probe); err != nil {
		os.Remove(f.Name())
		c.fail("store", "%s takes no file, so nothing can be delivered: %v", nw, err)
		return
	}
	os.Remove(probe)
	cur := filepath.Join(dir, "cur")
	if err := syscall.Access(cur, 2|1); err != nil { // W_OK|X_OK
		c.warn("store", "%s writable, but %s is not (%v): mail readers cannot mark messages read", dir, cur, err)
		return
	}
	c.ok("store", "%s writable", dir)
}

// checkOutbox checks the outbox and counts the mail in it; wake starts
// the background delivery for it where no agent runs.
func checkOutbox(c *checker, cfg *config.Config, wake bool) {
	checkDir(c, "outbox", cfg.Outbox)
	if dir, k := submit.Stranded(cfg); k > 0 {
		if how, ok := agent.PendingMove(cfg, dir); ok {
			c.ok("outbox", "%d message(s) wait in %s, the former outbox: %s", k, dir, how)
		} else {
			c.fail("outbox", "%d message(s) wait in %s, which is no longer the outbox (%s is): nothing delivers them; %s", k, dir, cfg.Outbox, submit.StrandedAdvice(dir, cfg.Outbox))
		}
	}
	if dir, k := submit.SetAside(cfg); k > 0 {
		c.fail("queue", "%d queue file(s) set aside in %s: %s", k, dir, submit.SetAsideAdvice(dir, cfg.Outbox))
	}
	n := 0
	for _, sub := range []string{"new", "cur"} {
		names, _ := os.ReadDir(filepath.Join(cfg.Outbox, sub))
		n += len(names)
	}
	if n > 0 {
		q := queueState(cfg)
		if wake && submit.WakeWaiting(cfg) {
			c.ok("queue", "%d message(s) waiting%s (mailq lists them); no agent ran: started a background delivery (its log: %s)", n, q.heldNote(), cfg.LogPath())
		} else if q.deferred > 0 {
			// Mail that waits because delivery failed for now (a
			// smarthost that refuses connections) is something to
			// look at, not an ok line.
			c.warn("queue", "%d message(s) waiting, %d recipient(s) deferred, the latest because: %s%s (mailq lists them)", n, q.deferred, q.reason, q.heldNote())
		} else {
			c.ok("queue", "%d message(s) waiting%s (mailq lists them)", n, q.heldNote())
		}
	}
}

// queued is what check says of the mail in the queue.
type queued struct {
	deferred int      // recipients whose last attempt failed for now, of messages not on hold
	reason   string   // the reason of the latest of those attempts
	held     []string // the IDs of the messages on hold
}

// queueState counts the recipients in the queue whose last attempt
// failed for now, and gives the reason of the latest attempt. A message
// on hold (homepost queue hold) is counted apart: it waits for homepost
// queue release, not for a fault to be fixed, and the reason of its
// last attempt, which may be long fixed, is not today's problem.
func queueState(cfg *config.Config) queued {
	var q queued
	entries, err := outbox.Dir(cfg.Outbox).List()
	if err != nil {
		return q
	}
	var last time.Time
	for _, e := range entries {
		if e.Err != nil {
			continue
		}
		if e.Held {
			q.held = append(q.held, e.ID)
			continue
		}
		for _, r := range e.Rcpts {
			if r.Status != outbox.Deferred {
				continue
			}
			q.deferred++
			if q.reason == "" || r.Last.After(last) {
				q.reason, last = r.Reason, r.Last
			}
		}
	}
	return q
}

// heldNote says how many messages are on hold and how to let them go,
// or nothing when none is.
func (q queued) heldNote() string {
	switch len(q.held) {
	case 0:
		return ""
	case 1:
		return fmt.Sprintf(", 1 held: `homepost queue release %s` sends it", q.held[0])
	}
	return fmt.Sprintf(", %d held: `homepost queue release ALL` sends them", len(q.held))
}

// checkHeld says what a configuration that does not load means for
// the mail: queued, and delivered once the file is fixed, unless a
// running agent still has the configuration it read before.
func checkHeld(c *checker, cfg *config.Config) {
	st, running := agent.RunningStatus(cfg)
	other := ""
	if running {
		other = OtherConfig(cfg, st.Pid)
	}
	switch {
	case other != "" && st.Held == "":
		c.warn("delivery", "the running agent (pid %d) reads another configuration file, %s, not %s: it delivers as its own file says, and this file's error does not hold it", st.Pid, other, config.DefaultPath(cfg.Home))
	case other != "":
		c.fail("delivery", "held: the running agent (pid %d) reads another configuration file, %s, which has an error too: %s", st.Pid, other, st.Held)
	case running && st.Held == "":
		c.warn("delivery", "the running agent (pid %d) keeps the configuration it read before the error; fix the file before it restarts", st.Pid)
	default:
		c.fail("delivery", "held: mail is queued (in %s) but not delivered until the configuration is fixed", cfg.Outbox)
	}
}

func checkStore(c *checker, cfg *config.Config) {
	kind, path := cfg.StoreKind()
	if kind == "maildir" {
		checkMaildir(c, path)
		return
	}
	if st, err := os.Stat(path); err == nil && st.IsDir() {
		want := strings.TrimSuffix(path, "/") + "/"
		if maildir.IsMaildir(path) {
			// Delivery stores into it as a Maildir and mail reads it
			// so: it works, but the setting says otherwise.
			c.warn("store", "mbox %s is a Maildir: mail is delivered and read there as a Maildir; write store = %q to say so", path, want)
			return
		}
		c.fail("store", "mbox %s is a directory: an mbox is a file; for a Maildir there write store = %q (mail for the store waits until then)", path, want)
		return
	}
	// As delivery opens it: a link or another user's file is refused.
	if err := maildir.CheckMbox(path); err != nil {
		c.fail("store", "mbox %v", err)
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

// checkDurability tells how a batch of copies into the store is made
// durable: one syncfs for the batch, or an fsync per copy. Both keep
// every promise; the first is faster.
func checkDurability(c *checker, cfg *config.Config) {
	kind, path := cfg.StoreKind()
	dir := path
	if kind != "maildir" {
		dir = filepath.Dir(path)
	}
	// Where they will be, for a store or an outbox not made yet.
	existing := nearestExisting
	// A file system in memory keeps nothing across a reboot or a power
	// loss: mail that sendmail acknowledged would be gone.
	for _, d := range []struct{ what, dir string }{
		{"the outbox, " + cfg.Outbox + ", is", cfg.Outbox},
		{"the store, " + path + ", is", dir},
	} {
		if fs := safeio.InMemory(existing(d.dir)); fs != "" {
			c.warn("durability", "%s on %s, which keeps its files in memory only: the mail there is lost at a reboot or a power loss, after sendmail exited 0 for it; name a directory on a disk", d.what, fs)
			return
		}
	}
	c.ok("durability", "%s", safeio.Explain(existing(cfg.Outbox), existing(dir)))
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
			c.ok(item, "%s: %d target(s); owner, mode and directories safe", r.Path, r.Entries)
		default:
			c.ok(item, "%s: %d entr%s", r.Path, r.Entries, map[bool]string{true: "y", false: "ies"}[r.Entries == 1])
		}
	}
	for _, e := range forwarder.Loops(cfg) {
		c.warn(forwarder.KindAliases, "%v", e)
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

// takeUpWait bounds how long check waits for the running agent to take
// up a configuration file changed a moment ago: the agent waits for it
// to settle (500 ms without a change, at most 5 s) before it reads it.
const takeUpWait = 7 * time.Second

// awaitTakenUp asks the running agent, which holds the queue for an
// error that the file no longer has, for a pass, as agent --once and
// flush do (a pass reads a changed file, once it has settled, before it
// starts), and waits until the agent no longer holds the queue, the
// pass has ended, or takeUpWait has passed. It returns the agent's
// status then, and whether an agent still runs.
func awaitTakenUp(cfg *config.Config, st agent.Status) (agent.Status, bool) {
	ctx, cancel := context.WithTimeout(context.Background(), takeUpWait)
	defer cancel()
	done := make(chan struct{})
	go func() {
		agent.AwaitPass(ctx, cfg)
		close(done)
	}()
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-done:
			return agent.RunningStatus(cfg)
		case <-tick.C:
			if now, ok := agent.RunningStatus(cfg); !ok || now.Pid != st.Pid || now.Held == "" {
				cancel()
				<-done
				return now, ok
			}
		}
	}
}

// agentStopping reports whether the agent pid, which holds the lock,
// has begun to stop (its lock file says so).
func agentStopping(cfg *config.Config, pid int) bool {
	p, word, running := agentlock.State(cfg.LockPath())
	return running && p == pid && word == "stopping"
}

// checkAgent says whether an agent runs, and whether it holds the queue.
// fixed says that the configuration file loads without an error.
func checkAgent(c *checker, cfg *config.Config, unit func(*checker), fixed bool) {
	st, ok := agent.RunningStatus(cfg)
	other := ""
	replaced, otherProgram := "", ""
	if ok {
		other = OtherConfig(cfg, st.Pid)
		replaced, otherProgram = agentProgram(st.Pid)
	}
	plain := false // the verdict says what the agent runs
	if ok && other != "" && st.Held != "" {
		c.fail("agent", "running (pid %d) with another configuration file, %s, but holding the queue: %s", st.Pid, other, st.Held)
	} else if ok && other != "" {
		c.warn("agent", "running (pid %d), but it reads another configuration file, %s, not %s: it delivers as that file says, whatever this check reports of this one", st.Pid, other, config.DefaultPath(cfg.Home))
	} else if ok && st.Held != "" && fixed {
		// The file reads well now, and the agent still holds the
		// queue: a fix it has not taken up yet, as it lets the change
		// settle. Wait for it, as flush does.
		if now, ok := awaitTakenUp(cfg, st); ok && now.Held == "" {
			c.ok("agent", "running (pid %d); it took up the changed configuration file just now", now.Pid)
		} else if ok {
			c.fail("agent", "running (pid %d) but holding the queue: %s; the file reads well now, but the agent has not taken it up (it reads it again on SIGHUP: kill -HUP %d)", now.Pid, now.Held, now.Pid)
		} else {
			c.warn("agent", "not running: the agent (pid %d) ended as it took up the changed configuration file; %s", st.Pid, AgentAdvice(cfg))
		}
	} else if ok && st.Held != "" {
		c.fail("agent", "running (pid %d) but holding the queue: %s", st.Pid, st.Held)
	} else if ok && agentStopping(cfg, st.Pid) {
		plain = true
		c.warn("agent", "stopping (pid %d): it ends its SMTP sessions and its delivery in progress, then exits; a new one started meanwhile (homepost agent) waits for it, and mail queued meanwhile is delivered by the next agent", st.Pid)
	} else if ok {
		plain = true
		switch {
		case replaced != "":
			c.warn("agent", "running a replaced homepost (pid %d, started from %s, which has been replaced since, by an upgrade): restart it: %s", st.Pid, replaced, restartAdvice(st.Pid))
		case otherProgram != "":
			c.warn("agent", "running (pid %d) %s, another homepost than this one; if this one is the one installed, restart it: %s", st.Pid, otherProgram, restartAdvice(st.Pid))
		default:
			c.ok("agent", "running (pid %d)", st.Pid)
		}
	} else if cfg.DeliverWithoutAgent {
		c.warn("agent", "not running; a background delivery starts after each message sent, and whenever a homepost command finds mail waiting; %s", AgentAdvice(cfg))
	} else {
		c.fail("agent", "not running and deliver_without_agent = false: mail waits in the queue (%s)", agentAdvice(cfg))
	}
	if ok && !plain && replaced != "" {
		c.warn("agent", "the agent (pid %d) runs a replaced homepost (started from %s, which has been replaced since, by an upgrade): restart it: %s", st.Pid, replaced, restartAdvice(st.Pid))
	}
	unit(c)
	checkLinger(c, cfg)
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
	warnNoFrom(c, cfg)
	inClear := warnInClear(c, cfg)
	if !probe {
		if !inClear {
			c.ok("relay", "%s (homepost check --relay connects)", cfg.Relay.URL)
		}
		return
	}
	rc := cfg.Relay
	ctx, cancel := context.WithTimeout(context.Background(), rc.ConnectTimeout.Duration+rc.CommandTimeout.Duration)
	defer cancel()
	offers, err := cl.ProbeOffers(ctx)
	if err != nil {
		c.fail("relay", "%s: %v", rc.URL, err)
		return
	}
	c.ok("relay", "%s reachable; %s", rc.URL, probeWhat(cfg))
	if offers.Known && !offers.EightBit {
		// RFC 6152 asks a client to convert 8-bit mail for such a
		// server (Postfix converts a MIME body to quoted-printable);
		// homepost sends it unchanged, as sendmail does by default
		// (EightBitMode=pass8) and msmtp does: the user should know.
		c.warn("relay", "%s offers no 8BITMIME: mail with 8-bit text (not 7-bit ASCII) goes to it unchanged, which it may garble or refuse%s", rc.URL, noUTF8(offers))
	}
}

// noUTF8 adds what happens to UTF-8 addresses at a smarthost that
// offers no SMTPUTF8: a domain in UTF-8 goes in its A-labels, which
// name the same domain; a local part in UTF-8 has no such form.
func noUTF8(o relay.Offers) string {
	if o.UTF8 {
		return ""
	}
	return "; nor SMTPUTF8: an internationalized domain with an ASCII local part goes in A-labels " +
		"(user@bücher.example as user@xn--bcher-kva.example), and mail to or from an address " +
		"whose local part is in UTF-8 bounces (5.6.7)"
}

// probeWhat says what a successful Probe has shown besides the
// connection.
func probeWhat(cfg *config.Config) string {
	switch {
	case strings.HasPrefix(cfg.Relay.URL, "exec:"):
		return "the program is executable"
	case cfg.Relay.Username == "":
		return "no authentication configured"
	}
	return "logged in as " + cfg.Relay.Username
}
