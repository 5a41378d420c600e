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
