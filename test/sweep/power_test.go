package sweep

import (
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"homepost/outbox"
	"homepost/test/testenv"
)

// recorded are the system calls the fsync model reads.
const recorded = "openat,open,creat,write,pwrite64,writev,pwritev,pwritev2,ftruncate,fallocate,fsync,fdatasync,syncfs," +
	"mkdirat,mkdir,renameat,renameat2,rename,unlinkat,unlink,linkat,link"

// TestPowerLossOrder records the system calls of one delivery per store
// kind (the daemon's for the daemon scenario, agent --once's for the
// others), and of sendmail queuing a message, and checks their order
// against the fsync model (see fsyncModel): what a power loss keeps is
// only what was fsynced, file and directory alike.
func TestPowerLossOrder(t *testing.T) {
	needStrace(t)
	all := scenarios(t)
	for _, sc := range all {
		if sc.name == "batch" {
			continue // the same steps as maildir and mbox, more of them
		}
		t.Run(sc.name, func(t *testing.T) {
			t.Parallel()
			sc.msgs = sc.msgs[:2]
			sc.prepare(t)
			w := sc.newWorld(t)
			m := w.model()
			trace := filepath.Join(t.TempDir(), "trace")
			if sc.daemon {
				// The daemon, its smarthost worker's calls among
				// them, until the queue is delivered.
				agent := w.traceAgent(t, trace)
				w.e.WaitFor(w.delivered, "the queue delivered by the daemon")
				agent.stop()
			} else if o := w.record(nil, recorded, trace, "homepost", "agent", "--once"); o.err != nil {
				t.Fatal(o.err)
			}
			calls := w.checkTrace(t, m, trace)
			// The trace must hold what the rules are about, or the test
			// could pass by seeing nothing.
			need := []string{"/outbox/new/", "/outbox/cur/"}
			for _, s := range w.stores() {
				if s.kind != "dir" {
					need = append(need, s.path)
				}
			}
			for _, n := range need {
				if !traceHas(calls, n) {
					t.Errorf("the trace never touches %s", n)
				}
			}
			if sc.daemon && !recordedBetween(calls) {
				t.Errorf("the trace never records a result between two writes to the smarthost: R8 saw nothing to check")
			}
			if l := w.leftovers(); l != "" {
				t.Errorf("the outbox still holds %s", l)
			}
		})
	}
	// homepost queue hold of a message still in new/ claims it as the
	// agent does: a link into cur/, cur/ synced, then the name dropped.
	t.Run("hold", func(t *testing.T) {
		t.Parallel()
		sc := &scenario{name: "hold", stores: func(string) []store { return nil }}
		w := sc.newWorld(t)
		box := outbox.Dir(w.e.Outbox(""))
		if err := box.Init(); err != nil {
			t.Fatal(err)
		}
		env := &outbox.Envelope{Sender: "s@example.org", Rcpts: []outbox.Recipient{{Addr: testenv.Login(t), Parent: -1}}}
		dr, err := box.Create(env, "testhost.example")
		if err != nil {
			t.Fatal(err)
		}
		dr.WriteString("Subject: held\n\nbody\n")
		if err := dr.Commit(); err != nil {
			t.Fatal(err)
		}
		m := w.model()
		trace := filepath.Join(t.TempDir(), "trace")
		if o := w.record(nil, recorded, trace, "homepost", "queue", "hold", dr.ID()); o.err != nil {
			t.Fatal(o.err)
		}
		calls := w.checkTrace(t, m, trace)
		if !traceHas(calls, "/outbox/cur/") {
			t.Errorf("the trace never touches outbox/cur")
		}
		if n := testenv.Files(w.e.Outbox("new")); len(n) != 0 {
			t.Errorf("outbox/new still holds %v", n)
		}
	})
	// homepost queue release gives a held message back to new/: a link
	// into new/, new/ synced, then the unlink from cur/ (R7).
	t.Run("release", func(t *testing.T) {
		t.Parallel()
		sc := &scenario{name: "release", stores: func(string) []store { return nil }}
		w := sc.newWorld(t)
		box := outbox.Dir(w.e.Outbox(""))
		if err := box.Init(); err != nil {
			t.Fatal(err)
		}
		env := &outbox.Envelope{Sender: "s@example.org", Rcpts: []outbox.Recipient{{Addr: testenv.Login(t), Parent: -1}}}
		dr, err := box.Create(env, "testhost.example")
		if err != nil {
			t.Fatal(err)
		}
		dr.WriteString("Subject: released\n\nbody\n")
		if err := dr.Commit(); err != nil {
			t.Fatal(err)
		}
		p, err := box.Find(dr.ID())
		if err != nil {
			t.Fatal(err)
		}
		if ok, err := box.Hold(p); !ok || err != nil {
			t.Fatalf("hold: %v, %v", ok, err)
		}
		m := w.model()
		trace := filepath.Join(t.TempDir(), "trace")
		if o := w.record(nil, recorded, trace, "homepost", "queue", "release", dr.ID()); o.err != nil {
			t.Fatal(o.err)
		}
		calls := w.checkTrace(t, m, trace)
		if !traceHas(calls, "/outbox/cur/") || !traceHas(calls, "/outbox/new/") {
			t.Errorf("the trace never moves the message from outbox/cur to outbox/new")
		}
		if n := testenv.Files(w.e.Outbox("cur")); len(n) != 0 {
			t.Errorf("outbox/cur still holds %v", n)
		}
		if n := testenv.Files(w.e.Outbox("new")); len(n) != 1 {
			t.Errorf("outbox/new holds %v, want the released message", n)
		}
	})
	t.Run("sendmail", func(t *testing.T) {
		t.Parallel()
		sc := &scenario{name: "sendmail", stores: func(string) []store { return nil }}
		w := sc.newWorld(t)
		m := w.model()
		trace := filepath.Join(t.TempDir(), "trace")
		msg := message{id: "pl@sweep.test", size: 2000}
		if o := w.record([]byte(msg.text()), recorded, trace, "sendmail", "-i", testenv.Login(t)); o.err != nil {
			t.Fatal(o.err)
		}
		calls := w.checkTrace(t, m, trace)
		if !traceHas(calls, "/outbox/new/") {
			t.Errorf("the trace never touches outbox/new")
		}
	})
}

// model is the fsync model for this world, with what exists before the
// traced run.
func (w *world) model() *fsyncModel {
	var stores []string
	for _, s := range w.stores() {
		stores = append(stores, s.path)
	}
	m := &fsyncModel{outbox: w.e.Path(".local", "state", "homepost", "outbox"), stores: stores,
		home: w.e.Home, existed: map[string]bool{}, isDir: statIsDir}
	filepath.WalkDir(w.e.Home, func(p string, _ fs.DirEntry, err error) error {
		if err == nil {
			m.existed[p] = true
		}
		return nil
	})
	return m
}

// readTrace reads the calls of a trace file.
func readTrace(t *testing.T, trace string) []call {
	t.Helper()
	f, err := os.Open(trace)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	calls, _, err := parseTrace(f)
	if err != nil {
		t.Fatal(err)
	}
	return calls
}

// checkTrace reads a trace and reports every broken rule.
func (w *world) checkTrace(t *testing.T, m *fsyncModel, trace string) []call {
	t.Helper()
	calls := readTrace(t, trace)
	for _, v := range m.check(calls) {
		t.Errorf("%s", strings.ReplaceAll(v.String(), w.e.Home, "~"))
	}
	return calls
}

func traceHas(calls []call, s string) bool {
	for _, c := range calls {
		if strings.Contains(c.text, s) {
			return true
		}
	}
	return false
}

// recordedBetween reports whether the trace records a result in the
// journal (an s record) between two writes to a socket: the smarthost's
// copies of one transaction, recorded before the next begins.
func recordedBetween(calls []call) bool {
	fed, recorded := false, false
	for _, c := range calls {
		if c.name != "write" && c.name != "pwrite64" || len(c.args) < 2 || !c.ok() {
			continue
		}
		_, p := fdPath(c.args[0])
		switch {
		case strings.HasPrefix(p, "socket:"):
			if recorded {
				return true
			}
			fed = true
		case fed && strings.Contains(p, "/outbox/cur/") && strings.HasPrefix(str(c.args[1]), "s "):
			recorded = true
		}
	}
	return false
}
