package clients

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"homepost/test/testenv"
)

// A burst of cron mail: twelve messages queued in about a second and
// delivered together are numbered by mail(1) in the order they were
// sent, in one session and the next, and "d 1" deletes the first.
// (homepost's Maildir names carry hexadecimal queue IDs, which were
// once compared as decimal numbers: the list came out 2 3 4 5 6 12 7
// 11 1 8 9 10.)
func TestMailNumbersABurstInArrivalOrder(t *testing.T) {
	t.Parallel()
	e := newEnv(t, "")
	const n = 12
	for i := 1; i <= n; i++ {
		e.sendmail(fmt.Sprintf("Subject: msg %d\n\nbody %d\n", i, i), testenv.Login(t))
	}
	e.deliver()
	subjects := func() []string {
		out, _ := e.run(e.command(bin("mail"), "-n", "-H"), "")
		var got []string
		for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
			_, s, _ := strings.Cut(l, "msg ")
			got = append(got, s)
		}
		return got
	}
	var want []string
	for i := 1; i <= n; i++ {
		want = append(want, fmt.Sprint(i))
	}
	for session := 0; session < 2; session++ {
		if got := subjects(); !slices.Equal(got, want) {
			t.Fatalf("mail -H lists the messages %v, want %v", got, want)
		}
	}
	out, _ := e.run(e.command(bin("mail"), "-n", "-N"), "p 1\nd 1\nq\n")
	if !strings.Contains(out, "Subject: msg 1\n") || !strings.Contains(out, "body 1\n") {
		t.Fatalf("p 1 does not print msg 1:\n%s", out)
	}
	if got := subjects(); !slices.Equal(got, want[1:]) {
		t.Fatalf("after d 1, mail -H lists %v, want %v", got, want[1:])
	}
}
