package doctor

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// cronCheck runs the cron check on crontab and returns its line. It
// skips where /usr/sbin/sendmail exists, since what the check says of
// jobs cron mails about depends on that file.
func cronCheck(t *testing.T, crontab string) string {
	t.Helper()
	if _, err := os.Lstat("/usr/sbin/sendmail"); err == nil {
		t.Skip("/usr/sbin/sendmail exists here")
	}
	var b strings.Builder
	checkCron(&checker{w: &b}, func() ([]byte, error) { return []byte(crontab), nil })
	return strings.TrimSpace(b.String())
}

// fakeHomepost returns a directory with an executable named homepost,
// for a crontab PATH under which cron finds it; its name has a blank,
// which a crontab line quotes.
func fakeHomepost(t *testing.T) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "my bin")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "homepost"), []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

// homepost's own jobs, the @reboot line that check --crontab prints
// (which appends its output to the log) and a homepost agent or
// homepost flush however written, have no output for cron to lose:
// the crontab that README shows, with that line added, is fine.
func TestCronOwnJobsAreNotLost(t *testing.T) {
	dir := fakeHomepost(t)
	readme := "MAILTO=\"\"\nPATH=" + dir + ":/usr/bin:/bin\n*/5 * * * * homepost cron -- /usr/local/bin/backup --quiet\n"
	for _, own := range []string{
		"@reboot '" + dir + "/homepost' flush >>'" + dir + "/agent.log' 2>&1\n",
		"@reboot HOMEPOST_CONFIG='/etc/my homepost.toml' XDG_STATE_HOME='/var/tmp/a\\%b' '" + dir + "/homepost' agent >>'/var/tmp/a\\%b/homepost/agent.log' 2>&1\n",
		"@reboot homepost agent\n",
		"*/10 * * * * homepost flush\n",
	} {
		out := cronCheck(t, readme+own)
		if !strings.HasPrefix(out, "ok   cron: ") || strings.Contains(out, "\n") {
			t.Errorf("crontab:\n%s%s\ncheck says:\n%s", readme, own, out)
		}
	}
	// Alone, homepost's own job is fine too, with or without MAILTO.
	for _, ct := range []string{"@reboot \"" + dir + "/homepost\" agent >>/dev/null 2>&1\n", "MAILTO=\"\"\n@reboot " + strings.ReplaceAll(dir, " ", "\\ ") + "/homepost flush\n"} {
		if out := cronCheck(t, ct); !strings.HasPrefix(out, "ok   cron: ") {
			t.Errorf("crontab:\n%s\ncheck says:\n%s", ct, out)
		}
	}
	// A job that only mentions homepost is a job like any other.
	ct := "MAILTO=\"\"\n@daily echo homepost agent\n"
	if out := cronCheck(t, ct); !strings.HasPrefix(out, "warn cron: ") || !strings.Contains(out, "output is lost") {
		t.Errorf("crontab:\n%s\ncheck says:\n%s", ct, out)
	}
	// homepost's own job is still one that cron must find: without a
	// PATH that holds it, the agent never starts after a reboot.
	ct = "MAILTO=\"\"\n@reboot homepost agent\n"
	if out := cronCheck(t, ct); !strings.HasPrefix(out, "warn cron: 1 of 1 job(s) run homepost by a name cron cannot find") {
		t.Errorf("crontab:\n%s\ncheck says:\n%s", ct, out)
	}
}

// A job's command is read as cron hands it to sh: it ends at an
// unescaped %, an escaped one loses its backslash, and quotes and
// backslashes join what sh takes as one word.
func TestCronCommandWords(t *testing.T) {
	for in, want := range map[string]string{
		`'/a b/homepost' agent >>'/l\%x' 2>&1`: `/a b/homepost|agent|>>/l%x|2>&1`,
		`X='1 2' "/a \"b\"/homepost" flush`:    `X=1 2|/a "b"/homepost|flush`,
		`/a\ b/homepost cron -- printf %s x`:   `/a b/homepost|cron|--|printf`,
		`  echo  it's `:                        `echo|its `,
	} {
		if got := strings.Join(shellWords(cronCommand(in)), "|"); got != want {
			t.Errorf("%s: %q, want %q", in, got, want)
		}
	}
}

// cron gives each job the MAILTO set above it (crontab(5): a setting
// applies to the job lines after it), not the file's last one: each job
// is judged, and the warning gives the reason, by its own MAILTO.
func TestCronMailtoAboveEachJob(t *testing.T) {
	dir := fakeHomepost(t)
	path := "PATH=" + dir + ":/usr/bin:/bin\n"
	for _, tc := range []struct {
		name, crontab string
		want, not     []string
	}{
		{"mailed, then MAILTO off", path + "MAILTO=root\n* * * * * echo x; exit 3\nMAILTO=\"\"\n* * * * * homepost cron -- false\n",
			[]string{"warn cron: 1 of 2 job(s) not under homepost cron", "/usr/sbin/sendmail, which does not exist", "output is lost"},
			[]string{`MAILTO=""`}},
		{"MAILTO off, then mailed", path + "MAILTO=\"\"\n* * * * * echo x; exit 3\nMAILTO=root\n* * * * * homepost cron -- false\n",
			[]string{"warn cron: 1 of 2 job(s) not under homepost cron", `MAILTO=""`, "output is lost"},
			[]string{"/usr/sbin/sendmail"}},
		{"MAILTO off after the job", path + "* * * * * echo x\nMAILTO=\"\"\n* * * * * homepost cron -- false\n",
			[]string{"warn cron: 1 of 2 job(s) not under homepost cron", "/usr/sbin/sendmail, which does not exist"},
			[]string{`MAILTO=""`}},
		{"both", path + "MAILTO=\"\"\n@daily a\nMAILTO=me\n@daily b\n@daily c\n@daily homepost cron -- d\n",
			[]string{`1 of 4 job(s) not under homepost cron run with MAILTO=""`, "2 of 4 job(s) not under homepost cron", "/usr/sbin/sendmail, which does not exist"},
			nil},
	} {
		out := cronCheck(t, tc.crontab)
		for _, w := range tc.want {
			if !strings.Contains(out, w) {
				t.Errorf("%s: check says\n%s\nwant %q", tc.name, out, w)
			}
		}
		for _, n := range tc.not {
			if strings.Contains(out, n) {
				t.Errorf("%s: check says\n%s\nwhich should not have %q", tc.name, out, n)
			}
		}
	}
}
