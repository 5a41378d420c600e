package e2e

import (
	"fmt"
	"os"
	"strings"
	"sync"
	"testing"

	"homepost/test/testenv"
)

// Many sendmails at once while the agent delivers: finished queue files
// become spares that the next sendmails race for. Every message arrives
// exactly once, whole, and nothing is left in the queue but at most the
// few spares (which keep an old message's bytes and blocks, to be
// written over).
func TestConcurrentSendmailsShareSpares(t *testing.T) {
	t.Parallel()
	e := testenv.New(t, "")
	e.StartAgent()
	const writers, each = 6, 25
	var wg sync.WaitGroup
	errs := make(chan string, writers*each)
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range each {
				body := strings.Repeat(fmt.Sprintf("writer %d message %d\n", w, i), 1+(w*each+i)%40)
				msg := fmt.Sprintf("Subject: w%d-m%d\n\n%s", w, i, body)
				if _, stderr, code := e.Run([]byte(msg), "sendmail", "root"); code != 0 {
					errs <- fmt.Sprintf("sendmail w%d-m%d: exit %d: %s", w, i, code, stderr)
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	e.WaitFor(func() bool { return len(testenv.Files(e.Path("Maildir", "new"))) >= writers*each }, "every message in ~/Maildir/new")
	seen := map[string]int{}
	for _, n := range testenv.Files(e.Path("Maildir", "new")) {
		b, err := os.ReadFile(e.Path("Maildir", "new", n))
		if err != nil {
			t.Fatal(err)
		}
		var subj string
		for _, l := range strings.Split(string(b), "\n") {
			if s, ok := strings.CutPrefix(l, "Subject: "); ok {
				subj = s
				break
			}
		}
		seen[subj]++
		var w, i int
		fmt.Sscanf(subj, "w%d-m%d", &w, &i)
		want := strings.Repeat(fmt.Sprintf("writer %d message %d\n", w, i), 1+(w*each+i)%40)
		if !strings.HasSuffix(string(b), "\n\n"+want) {
			t.Errorf("%s arrived changed:\n%s", subj, b)
		}
	}
	for w := range writers {
		for i := range each {
			if s := fmt.Sprintf("w%d-m%d", w, i); seen[s] != 1 {
				t.Errorf("%s arrived %d times", s, seen[s])
			}
		}
	}
	e.WaitFor(func() bool {
		return len(testenv.Files(e.Outbox("new"))) == 0 && len(testenv.Files(e.Outbox("cur"))) == 0 && onlySpares(e)
	}, "an empty queue, with only spares in outbox/tmp (it holds "+strings.Join(testenv.Files(e.Outbox("tmp")), " ")+")")
}

func onlySpares(e *testenv.Env) bool {
	for _, n := range testenv.Files(e.Outbox("tmp")) {
		st, err := os.Lstat(e.Outbox("tmp") + "/" + n)
		if err != nil || !strings.HasPrefix(n, "spare.") || !st.Mode().IsRegular() {
			return false
		}
	}
	return true
}
