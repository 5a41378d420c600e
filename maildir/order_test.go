package maildir

import (
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// arrival writes the names into new/ (or cur/ with flags, every third
// one) in a shuffled order, each with an mtime a microsecond after the
// one before in the given order, and checks that List returns them in
// that order.
func checkArrival(t *testing.T, names []string) {
	t.Helper()
	d := Dir(t.TempDir())
	if err := d.Init(); err != nil {
		t.Fatal(err)
	}
	sec, _ := strconv.ParseInt(names[0][:strings.IndexByte(names[0], '.')], 10, 64)
	files := make([]string, len(names))
	for i, name := range names {
		files[i] = filepath.Join(string(d), "new", name)
		if i%3 == 1 {
			files[i] = filepath.Join(string(d), "cur", name+":2,S")
		}
	}
	for _, i := range rand.Perm(len(names)) {
		if err := os.WriteFile(files[i], []byte("Subject: "+strconv.Itoa(i)+"\n\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		mt := time.Unix(sec, int64(i)*1000)
		if err := os.Chtimes(files[i], mt, mt); err != nil {
			t.Fatal(err)
		}
	}
	entries, err := d.List()
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range entries {
		got = append(got, e.Key())
	}
	if !slices.Equal(got, names) {
		for i := range got {
			if got[i] != names[i] {
				t.Fatalf("List out of arrival order from #%d: got %q, want %q\n(got %q)", i+1, got[i], names[i], got[i:min(i+6, len(got))])
			}
		}
		t.Fatalf("List: got %d names, want %d", len(got), len(names))
	}
}

// homepostName is the name homepost's agent gives a copy: the queue
// file's name (outbox.newName: seconds, then the time in microseconds
// and the pid in upper-case hex) with the recipient's index.
func homepostName(us int64, pid, seq, rcpt int) string {
	id := strconv.FormatInt(us, 16) + strconv.FormatInt(int64(pid), 16)
	if seq > 1 {
		id += "Q" + strconv.FormatInt(int64(seq), 16)
	}
	return fmt.Sprintf("%d.%sR%d.host", us/1e6, strings.ToUpper(id), rcpt)
}

// Many messages delivered by homepost in one second: their hexadecimal
// queue IDs are not numbers to compare digit run by digit run.
func TestListHomepostNamesInOneSecond(t *testing.T) {
	const sec = 1700000000
	// The report: D909A… (digits, then letters) sorted after D90AB….
	var names []string
	us := int64(sec) * 1e6
	for i := 0; i < 300; i++ {
		us += 1 + rand.Int64N(3000)
		if us >= (sec+1)*1e6 {
			break
		}
		names = append(names, homepostName(us, 4000+rand.IntN(60000), 1, 0))
	}
	checkArrival(t, names)

	// The same microsecond from one process: the Q sequence, in hex.
	names = nil
	for seq := 1; seq <= 20; seq++ {
		names = append(names, homepostName(int64(sec)*1e6+5, 1234, seq, 0))
	}
	checkArrival(t, names)

	// Copies for several recipients, then a bounce ("D").
	names = []string{
		homepostName(int64(sec)*1e6+9, 77, 1, 0),
		homepostName(int64(sec)*1e6+9, 77, 1, 1),
		homepostName(int64(sec)*1e6+9, 77, 1, 2),
		homepostName(int64(sec)*1e6+9, 77, 1, 10),
		homepostName(int64(sec)*1e6+10, 77, 1, 0) + "D",
	}
	checkArrival(t, names)
}

// Names written by other deliverers, many in one second.
func TestListOtherDeliverersInOneSecond(t *testing.T) {
	const sec = 1700000000
	pids := rand.Perm(30000)
	var dovecot, courier, getmail, qmail, mixed []string
	usec := 0
	for i := 0; i < 200; i++ {
		usec += 1 + rand.IntN(4000)
		if usec >= 1e6 {
			break
		}
		pid := 300 + pids[i]
		dovecot = append(dovecot, fmt.Sprintf("%d.M%dP%d.mail.example.org", sec, usec, pid))
		courier = append(courier, fmt.Sprintf("%d.M%dP%d_%d.mail.example.org,S=%d", sec, usec, pid, i%3, 100+pid))
		getmail = append(getmail, fmt.Sprintf("%d.M%dP%dQ%d.host", sec, usec, pid, i+1))
		mixed = append(mixed, []string{
			fmt.Sprintf("%d.M%dP%d.dovecot", sec, usec, pid),
			homepostName(int64(sec)*1e6+int64(usec), pid, 1, 0),
		}[i%2])
		// qmail's classic "time.pid.host" has no fraction of a second:
		// its pids are not in order (they wrap), the mtimes are.
		qmail = append(qmail, fmt.Sprintf("%d.%d.qmail", sec, pid))
	}
	checkArrival(t, dovecot)
	checkArrival(t, courier)
	checkArrival(t, getmail)
	checkArrival(t, mixed)
	checkArrival(t, qmail)
}

// Messages over several seconds keep the order of their seconds, and a
// second's messages come out the same from one List to the next.
func TestListStableAcrossSeconds(t *testing.T) {
	var names []string
	for sec := int64(1700000000); sec < 1700000004; sec++ {
		for k := int64(0); k < 40; k++ {
			names = append(names, homepostName(sec*1e6+k*20000+int64(rand.IntN(100)), 100+int(k), 1, 0))
		}
	}
	checkArrival(t, names)
}
