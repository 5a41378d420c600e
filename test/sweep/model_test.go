package sweep

import (
	"strings"
	"testing"
)

// The checker itself: a trace that follows the rules passes, and each
// broken rule is reported.
func TestFsyncModelRules(t *testing.T) {
	const h = "/h"
	good := `
1 linkat(AT_FDCWD</>, "/h/o/new/q1", AT_FDCWD</>, "/h/o/cur/q1:2,", 0) = 0
1 openat(AT_FDCWD</>, "/h/o/cur", O_RDONLY|O_CLOEXEC) = 7</h/o/cur>
1 fsync(7</h/o/cur>) = 0
1 unlinkat(AT_FDCWD</>, "/h/o/new/q1", 0) = 0
1 openat(AT_FDCWD</>, "/h/o/cur/q1:2,", O_RDWR|O_CLOEXEC) = 8</h/o/cur/q1:2,>
1 openat(AT_FDCWD</>, "/h/M/tmp/c1", O_WRONLY|O_CREAT|O_EXCL|O_CLOEXEC, 0600) = 9</h/M/tmp/c1>
1 write(9</h/M/tmp/c1>, "Return-Path: <me>\n", 18) = 18
1 fsync(9</h/M/tmp/c1>) = 0
1 renameat(AT_FDCWD</>, "/h/M/tmp/c1", AT_FDCWD</>, "/h/M/new/c1") = 0
1 openat(AT_FDCWD</>, "/h/M/new", O_RDONLY|O_CLOEXEC) = 10</h/M/new>
1 fsync(10</h/M/new>) = 0
1 pwrite64(8</h/o/cur/q1:2,>, "s 0 sent 1 1 0 ok\n", 18, 100) = 18
1 fsync(8</h/o/cur/q1:2,>) = 0
1 renameat(AT_FDCWD</>, "/h/o/cur/q1:2,", AT_FDCWD</>, "/h/o/tmp/q1.done") = 0
1 fsync(7</h/o/cur>) = 0
1 openat(AT_FDCWD</>, "/h/o/new", O_RDONLY|O_CLOEXEC) = 11</h/o/new>
1 fsync(11</h/o/new>) = 0
1 renameat2(AT_FDCWD</>, "/h/o/tmp/q1.done", AT_FDCWD</>, "/h/o/tmp/spare.0", RENAME_NOREPLACE) = 0
1 +++ exited with 0 +++
`
	dirs := map[string]bool{"/h/o/cur": true, "/h/o/new": true, "/h/M/new": true, "/h/M": true, "/h": true, "/h/o/tmp": true}
	m := &fsyncModel{outbox: "/h/o", stores: []string{"/h/M"}, home: h, existed: map[string]bool{},
		isDir: func(p string) bool { return dirs[p] }}
	run := func(trace string) string {
		calls, _, err := parseTrace(strings.NewReader(strings.TrimSpace(trace) + "\n"))
		if err != nil {
			t.Fatal(err)
		}
		var rules []string
		for _, v := range m.check(calls) {
			rules = append(rules, v.rule)
		}
		return strings.Join(rules, ",")
	}
	if got := run(good); got != "" {
		t.Fatalf("a trace that follows the rules: %s", got)
	}
	drop := func(trace string, lines ...int) string {
		l := strings.Split(strings.TrimSpace(trace), "\n")
		for i := len(lines) - 1; i >= 0; i-- {
			l = append(l[:lines[i]-1], l[lines[i]:]...)
		}
		return strings.Join(l, "\n")
	}
	for _, tc := range []struct {
		what string
		drop []int
		want string
	}{
		{"copy not fsynced before its rename", []int{8}, "R1"},
		{"claim not durable before its name leaves new/, nor before the copy", []int{3}, "R6,R2"},
		{"new/ not fsynced before the result", []int{11}, "R3,R3,R5"},
		{"release not durable before the spare", []int{15}, "R4,R5"},
		{"the claim's removal from new/ not durable before the spare", []int{17}, "R10"},
	} {
		if got := run(drop(good, tc.drop...)); !strings.HasPrefix(got, tc.want) {
			t.Errorf("%s: got %q, want %q", tc.what, got, tc.want)
		}
	}
	// A batch as the agent writes it: the copy written into tmp/ first,
	// then one syncfs for the claim and the copy, then the rename.
	batch := `
1 linkat(AT_FDCWD</>, "/h/o/new/q1", AT_FDCWD</>, "/h/o/cur/q1:2,", 0) = 0
1 openat(AT_FDCWD</>, "/h/o/cur/q1:2,", O_RDWR|O_CLOEXEC) = 8</h/o/cur/q1:2,>
1 openat(AT_FDCWD</>, "/h/M/tmp/c1", O_WRONLY|O_CREAT|O_EXCL|O_CLOEXEC, 0600) = 9</h/M/tmp/c1>
1 write(9</h/M/tmp/c1>, "Return-Path: <me>\n", 18) = 18
1 syncfs(9</h/M/tmp/c1>) = 0
1 unlinkat(AT_FDCWD</>, "/h/o/new/q1", 0) = 0
1 renameat(AT_FDCWD</>, "/h/M/tmp/c1", AT_FDCWD</>, "/h/M/new/c1") = 0
1 openat(AT_FDCWD</>, "/h/M/new", O_RDONLY|O_CLOEXEC) = 10</h/M/new>
1 fsync(10</h/M/new>) = 0
1 pwrite64(8</h/o/cur/q1:2,>, "s 0 sent 1 1 0 ok\n", 18, 100) = 18
1 fsync(8</h/o/cur/q1:2,>) = 0
1 renameat(AT_FDCWD</>, "/h/o/cur/q1:2,", AT_FDCWD</>, "/h/o/tmp/q1.done") = 0
1 openat(AT_FDCWD</>, "/h/o/cur", O_RDONLY|O_CLOEXEC) = 7</h/o/cur>
1 fsync(7</h/o/cur>) = 0
1 +++ exited with 0 +++
`
	if got := run(batch); got != "" {
		t.Errorf("a copy written in tmp/ before one syncfs for claim and copy: %s", got)
	}
	for _, tc := range []struct {
		what string
		drop []int
		want string
	}{
		{"no syncfs: the name dropped, the copy renamed unsynced, the claim not durable", []int{5}, "R6,R1,R2"},
	} {
		if got := run(drop(batch, tc.drop...)); !strings.HasPrefix(got, tc.want) {
			t.Errorf("%s: got %q, want %q", tc.what, got, tc.want)
		}
	}
	// The smarthost's first transaction recorded, and the next one
	// begun: with the record fsynced first, and without (R8).
	relay := `
1 linkat(AT_FDCWD</>, "/h/o/new/q1", AT_FDCWD</>, "/h/o/cur/q1:2,", 0) = 0
1 openat(AT_FDCWD</>, "/h/o/cur", O_RDONLY|O_CLOEXEC) = 7</h/o/cur>
1 fsync(7</h/o/cur>) = 0
1 unlinkat(AT_FDCWD</>, "/h/o/new/q1", 0) = 0
1 openat(AT_FDCWD</>, "/h/o/cur/q1:2,", O_RDWR|O_CLOEXEC) = 8</h/o/cur/q1:2,>
1 write(9<socket:[77]>, "MAIL FROM:<me>\r\n", 16) = 16
1 pwrite64(8</h/o/cur/q1:2,>, "s 0 sent 1 1 0 ok\n", 18, 100) = 18
1 fsync(8</h/o/cur/q1:2,>) = 0
1 write(9<socket:[77]>, "MAIL FROM:<me>\r\n", 16) = 16
1 +++ exited with 0 +++
`
	if got := run(relay); got != "" {
		t.Errorf("a transaction's results fsynced before the next begins: %s", got)
	}
	if got := run(drop(relay, 8)); got != "R8" {
		t.Errorf("the next transaction begun before the results are durable: got %q, want R8", got)
	}
	// The session ended (QUIT) while the last result is still being
	// made durable: nothing is sent on it, so R8 does not apply.
	quit := strings.Replace(relay, "1 fsync(8</h/o/cur/q1:2,>) = 0\n1 write(9<socket:[77]>, \"MAIL FROM:<me>\\r\\n\", 16) = 16\n",
		"2 write(9<socket:[77]>, \"QUIT\\r\\n\", 6) = 6\n1 fsync(8</h/o/cur/q1:2,>) = 0\n", 1)
	if quit == relay {
		t.Fatal("the QUIT case was not made")
	}
	if got := run(quit); got != "" {
		t.Errorf("a QUIT while the last result is fsynced: got %q, want nothing", got)
	}
	// A claim by rename: the name leaves new/ with the claim not durable.
	renamed := strings.Replace(good, `1 linkat(AT_FDCWD</>, "/h/o/new/q1", AT_FDCWD</>, "/h/o/cur/q1:2,", 0) = 0`,
		`1 renameat(AT_FDCWD</>, "/h/o/new/q1", AT_FDCWD</>, "/h/o/cur/q1:2,", RENAME_NOREPLACE) = 0`, 1)
	if got := run(renamed); !strings.HasPrefix(got, "R6") {
		t.Errorf("a claim by rename: got %q, want R6", got)
	}
	// A release from hold: a link back into new/, new/ synced, then the
	// unlink from cur/, left unsynced.
	release := `
1 openat(AT_FDCWD</>, "/h/o/cur/q1:2,", O_RDWR|O_CLOEXEC) = 8</h/o/cur/q1:2,>
1 pwrite64(8</h/o/cur/q1:2,>, "h 0\n", 4, 100) = 4
1 fsync(8</h/o/cur/q1:2,>) = 0
1 linkat(AT_FDCWD</>, "/h/o/cur/q1:2,", AT_FDCWD</>, "/h/o/new/q1", 0) = 0
1 openat(AT_FDCWD</>, "/h/o/new", O_RDONLY|O_CLOEXEC) = 7</h/o/new>
1 fsync(7</h/o/new>) = 0
1 unlinkat(AT_FDCWD</>, "/h/o/cur/q1:2,", 0) = 0
1 +++ exited with 0 +++
`
	if got := run(release); got != "" {
		t.Errorf("a release by link, new/ synced, then unlink: %s", got)
	}
	if got := run(drop(release, 6)); got != "R7" {
		t.Errorf("a release that unlinks before new/ is synced: got %q, want R7", got)
	}
	// A release by rename: the name leaves cur/ before new/ holds it.
	renamedBack := strings.Replace(drop(release, 7), `1 linkat(AT_FDCWD</>, "/h/o/cur/q1:2,", AT_FDCWD</>, "/h/o/new/q1", 0) = 0`,
		`1 renameat(AT_FDCWD</>, "/h/o/cur/q1:2,", AT_FDCWD</>, "/h/o/new/q1") = 0`, 1)
	if got := run(renamedBack); got != "R7" {
		t.Errorf("a release by rename: got %q, want R7", got)
	}
	direct := strings.Replace(good, `"/h/o/tmp/q1.done") = 0`, `"/h/o/tmp/spare.1", RENAME_NOREPLACE) = 0`, 1)
	if got := run(direct); !strings.Contains(got, "R4") {
		t.Errorf("release straight into a spare slot: got %q, want R4", got)
	}
	// A created mbox whose directory entry is never fsynced.
	mbox := `
1 openat(AT_FDCWD</>, "/h/box", O_RDWR|O_CREAT|O_CLOEXEC, 0600) = 9</h/box>
1 write(9</h/box>, "From me\n", 8) = 8
1 fsync(9</h/box>) = 0
1 unlinkat(AT_FDCWD</>, "/h/o/cur/q1:2,", 0) = 0
1 openat(AT_FDCWD</>, "/h/o/cur", O_RDONLY|O_CLOEXEC) = 7</h/o/cur>
1 fsync(7</h/o/cur>) = 0
`
	m.stores = []string{"/h/box"}
	if got := run(mbox); got != "R3,R5" {
		t.Errorf("an mbox created and never made durable in its directory: got %q, want R3", got)
	}
	m.existed["/h/box"] = true
	if got := run(mbox); got != "" {
		t.Errorf("an mbox that existed: got %q", got)
	}
	// A hold asked for: hold/ made and its name synced, the request
	// made and synced; then the hold recorded, synced, and the request
	// removed, durably (R11).
	asked := `
1 mkdirat(AT_FDCWD</>, "/h/o/hold", 0700) = 0
1 openat(AT_FDCWD</>, "/h/o", O_RDONLY|O_CLOEXEC) = 7</h/o>
1 fsync(7</h/o>) = 0
1 openat(AT_FDCWD</>, "/h/o/hold/Q1", O_WRONLY|O_CREAT|O_NONBLOCK|O_CLOEXEC, 0600) = 8</h/o/hold/Q1>
1 openat(AT_FDCWD</>, "/h/o/hold", O_RDONLY|O_CLOEXEC) = 9</h/o/hold>
1 fsync(9</h/o/hold>) = 0
1 pwrite64(10</h/o/cur/1.Q1.host:2,>, "h 1\n", 4, 100) = 4
1 fsync(10</h/o/cur/1.Q1.host:2,>) = 0
1 unlinkat(AT_FDCWD</>, "/h/o/hold/Q1", 0) = 0
1 fsync(9</h/o/hold>) = 0
`
	dirs["/h/o"], dirs["/h/o/hold"] = true, true
	if got := run(asked); got != "" {
		t.Fatalf("a hold asked for and taken as the rules say: %s", got)
	}
	// The hold's part alone (the first six calls), and the whole.
	ask := strings.Join(strings.Split(strings.TrimSpace(asked), "\n")[:6], "\n")
	for _, tc := range []struct {
		what  string
		trace string
		drop  []int
		want  string
	}{
		{"hold/ made, its name not synced", ask, []int{3}, "R5"},
		{"the request made, not synced", ask, []int{6}, "R5"},
		{"the request removed before the hold record is durable", asked, []int{8}, "R11"},
		{"the request's removal not synced", asked, []int{10}, "R5"},
	} {
		if got := run(drop(tc.trace, tc.drop...)); got != tc.want {
			t.Errorf("%s: got %q, want %q", tc.what, got, tc.want)
		}
	}
}

func TestParseTrace(t *testing.T) {
	trace := `12 openat(AT_FDCWD</tmp>, "/tmp/a\\056b", O_RDONLY) = 3</tmp/a\\056b>
13 fsync(3</tmp/a\\056b> <unfinished ...>
12 write(2<pipe:[1]>, "x, y) = 1", 9) = 9
13 <... fsync resumed>) = 0
12 renameat2(AT_FDCWD</>, "a", AT_FDCWD</>, "b", RENAME_NOREPLACE) = -1 EEXIST (File exists)
14 ???( <detached ...>
13 +++ killed by SIGKILL +++
`
	calls, exits, err := parseTrace(strings.NewReader(trace))
	if err != nil {
		t.Fatal(err)
	}
	if len(calls) != 4 || len(exits) != 1 || !exits[0].killed {
		t.Fatalf("calls %+v exits %+v", calls, exits)
	}
	if p := atPath(calls[0].args[0], calls[0].args[1]); p != `/tmp/a\056b` {
		t.Errorf("path %q", p)
	}
	// A call interrupted by another thread counts where it returns.
	if _, p := fdPath(calls[2].args[0]); calls[2].name != "fsync" || p != `/tmp/a\056b` || calls[2].ret != "0" {
		t.Errorf("joined call %+v", calls[2])
	}
	if len(calls[1].args) != 3 || str(calls[1].args[1]) != "x, y) = 1" {
		t.Errorf("quoted args %q", calls[1].args)
	}
	if calls[3].ok() {
		t.Errorf("a failed call taken for a success: %+v", calls[3])
	}
}
