package main

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"homepost/agent"
	"homepost/config"
	"homepost/outbox"
	"homepost/submit"
	"homepost/sysexits"
)

func init() {
	register(command{
		name:    "queue",
		summary: "delete, hold or release queued messages (postsuper -d/-h/-H)",
		run:     runQueue,
	})
}

const queueUsage = `usage: homepost queue delete ID... | ALL
       homepost queue hold ID... | ALL
       homepost queue release ID... | ALL

Acts on messages in the user's own outbox, by the queue IDs that mailq
shows (a trailing '*' or '!' is ignored), like Postfix's postsuper:

  delete   remove the messages: they are neither delivered nor bounced
  hold     keep the messages in the queue without delivering them
  release  let held messages be delivered again

ALL means every message in the queue; '-' reads IDs from standard input,
one per line. A running agent is told at once. Exits 66 when an ID is
not in the queue (the others are still acted on). See homepost(1).
`

func runQueue(args []string) int {
	if len(args) == 0 {
		fmt.Fprint(os.Stderr, queueUsage)
		return sysexits.Usage
	}
	if args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		fmt.Print(queueUsage)
		return sysexits.OK
	}
	verb, ids := args[0], args[1:]
	switch verb {
	case "delete", "hold", "release":
	default:
		fail("queue", fmt.Errorf("unknown action %q (use delete, hold or release)", verb))
		return sysexits.Usage
	}
	if len(ids) == 0 {
		fail("queue "+verb, errors.New("no queue ID given (or ALL)"))
		return sysexits.Usage
	}
	cfg, code := loadConfig("queue")
	if cfg == nil {
		return code
	}
	q := queueCmd{cfg: cfg, box: outbox.Dir(cfg.Outbox), verb: verb}
	paths, code := q.resolve(ids)
	done := 0
	for _, p := range paths {
		ok, err := q.act(p)
		if err != nil {
			fail("queue "+verb, err)
			code = sysexits.TempFail
			continue
		}
		if ok {
			done++
		}
	}
	if done > 0 {
		// A running agent reloads: a held message is left alone; a
		// released one came back through new/.
		if err := agent.Signal(cfg, syscall.SIGHUP); err != nil && !errors.Is(err, agent.ErrNotRunning) {
			fail("queue "+verb, fmt.Errorf("cannot signal the agent: %w", err))
		}
		if verb == "release" {
			// Where no agent runs, released mail goes out all the
			// same, as newly queued mail does.
			submit.Wake(cfg)
		}
	}
	what := map[string]string{"delete": "Deleted", "hold": "Placed on hold", "release": "Released from hold"}[verb]
	plural := "s"
	if done == 1 {
		plural = ""
	}
	fmt.Printf("%s: %d message%s\n", what, done, plural)
	return code
}

type queueCmd struct {
	cfg  *config.Config
	box  outbox.Dir
	verb string
}

// resolve turns the arguments into queue file paths. Unknown IDs are
// reported and make the exit code 66; the rest still go ahead.
func (q *queueCmd) resolve(args []string) ([]string, int) {
	code := sysexits.OK
	var ids []string
	for _, a := range args {
		switch a {
		case "ALL":
			var paths []string
			for _, sub := range []string{"new", "cur"} {
				names, err := q.box.Names(sub)
				if err != nil && !errors.Is(err, os.ErrNotExist) {
					fail("queue "+q.verb, err)
					code = sysexits.TempFail
				}
				for _, n := range names {
					paths = append(paths, q.box.Path(sub, n))
				}
			}
			return paths, code
		case "-":
			sc := bufio.NewScanner(os.Stdin)
			for sc.Scan() {
				if id := strings.TrimSpace(sc.Text()); id != "" {
					ids = append(ids, id)
				}
			}
		default:
			ids = append(ids, a)
		}
	}
	var paths []string
	for _, id := range ids {
		id = strings.TrimRight(id, "*!")
		if id == "" || strings.ContainsAny(id, "/.") {
			fail("queue "+q.verb, fmt.Errorf("%q is not a queue ID", id))
			code = sysexits.Usage
			continue
		}
		p, err := q.box.Find(id)
		if err != nil {
			fail("queue "+q.verb, err)
			if code == sysexits.OK {
				code = sysexits.NoInput
			}
			continue
		}
		paths = append(paths, p)
	}
	return paths, code
}

// act applies the verb to one queue file. It reports false, without an
// error, when there was nothing to do (already held, already gone).
func (q *queueCmd) act(path string) (bool, error) {
	if q.verb == "delete" {
		err := os.Remove(path)
		if errors.Is(err, os.ErrNotExist) {
			return q.retry(path)
		}
		return err == nil, err
	}
	if q.verb == "hold" && filepath.Base(filepath.Dir(path)) == "new" {
		// Claim it first, as an agent would: a held message in new/
		// would otherwise be taken by the next agent that looks.
		p, err := q.box.Claim(filepath.Base(path))
		if errors.Is(err, os.ErrNotExist) {
			return q.retry(path)
		}
		if err != nil {
			return false, err
		}
		ok, err := q.mark(p)
		if err != nil {
			// Not held after all: give it back to new/, where an agent
			// will see it, rather than strand it in cur/.
			name, _, _ := strings.Cut(filepath.Base(p), ":")
			os.Rename(p, q.box.Path("new", name))
		}
		return ok, err
	}
	return q.mark(path)
}

// mark writes the hold or release record of the message at path, under
// the queue file's lock.
func (q *queueCmd) mark(path string) (bool, error) {
	unlock, err := lockQueueFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return q.retry(path)
	}
	if err != nil {
		return false, err
	}
	defer unlock()
	m, err := outbox.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		// Delivered and removed while we waited for the lock.
		return q.retry(path)
	}
	if err != nil {
		return false, err
	}
	defer m.Close()
	hold := q.verb == "hold"
	if m.Env.Held == hold {
		return false, nil
	}
	if err := m.Append(outbox.Record{Kind: 'h', Hold: hold}); err != nil {
		return false, err
	}
	if !hold && filepath.Base(filepath.Dir(path)) == "cur" {
		// Back into new/: a running agent notices it there at once and
		// claims it as it claims any new message; its journal keeps what
		// was already delivered. Should the rename be lost in a crash,
		// the next agent takes the message up from cur/ all the same.
		name, _, _ := strings.Cut(filepath.Base(path), ":")
		if err := os.Rename(path, q.box.Path("new", name)); err != nil {
			return true, fmt.Errorf("%s: released but left in cur/: %w", outbox.ID(name), err)
		}
	}
	return true, nil
}

// retry looks the message up again after it moved under us (an agent
// claimed it from new/ into cur/).
func (q *queueCmd) retry(path string) (bool, error) {
	id := outbox.ID(filepath.Base(path))
	p, err := q.box.Find(id)
	if err != nil || p == path {
		return false, nil // delivered and removed meanwhile
	}
	return q.act(p)
}

// lockQueueFile takes an exclusive flock on a queue file, waiting up to
// 30 seconds for a delivery that holds it, so that a hold record is not
// written while another process appends to the same journal.
func lockQueueFile(path string) (func(), error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB)
		if err == nil {
			return func() { unix.Flock(int(f.Fd()), unix.LOCK_UN); f.Close() }, nil
		}
		if !errors.Is(err, unix.EWOULDBLOCK) || time.Now().After(deadline) {
			f.Close()
			return nil, fmt.Errorf("%s: queue file is busy: %w", outbox.ID(filepath.Base(path)), err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
