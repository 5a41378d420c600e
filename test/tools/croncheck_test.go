package tools

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestCheckCronFindsHomepost: cron runs a job with PATH=/usr/bin:/bin
// (Debian's cron and cronie) unless the crontab sets PATH, so a job
// "homepost cron -- JOB" written with the bare name, where homepost is
// in ~/.local/bin, never runs: sh says "homepost: not found", and with
// MAILTO="" cron mails that to no one. check said "all 1 job(s) run
// under homepost cron". It must warn, and name the full path or a PATH
// line as the cure; a full path, or a PATH that holds homepost, is fine.
func TestCheckCronFindsHomepost(t *testing.T) {
	dir := filepath.Dir(bin)
	for _, tc := range []struct {
		name, crontab, want string
	}{
		{"bare name, cron's PATH", "MAILTO=\"\"\n*/5 * * * * homepost cron -- /usr/local/bin/backup --quiet\n",
			"warn cron: 1 of 1 job(s) run homepost by a name cron cannot find"},
		{"bare name, PATH without it", "MAILTO=\"\"\nPATH=/usr/local/bin:/usr/bin:/bin\n@daily homepost cron -- true\n",
			"warn cron: 1 of 1 job(s) run homepost by a name cron cannot find"},
		{"full path", "MAILTO=\"\"\n@daily " + bin + " cron -- true\n",
			"ok   cron: all 1 job(s) run under homepost cron"},
		{"PATH with it", "MAILTO=\"\"\nPATH=" + dir + ":/usr/bin:/bin\n@daily homepost cron -- true\n",
			"ok   cron: all 1 job(s) run under homepost cron"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := saneEnv(t)
			tools := t.TempDir()
			script := "#!/bin/sh\ncat <<'EOF'\n" + tc.crontab + "EOF\n"
			if err := os.WriteFile(filepath.Join(tools, "crontab"), []byte(script), 0o755); err != nil {
				t.Fatal(err)
			}
			e.extra = []string{"PATH=" + tools + ":/usr/bin:/bin"}
			out, _ := e.check()
			if !hasLine(out, tc.want) {
				t.Errorf("crontab:\n%s\ncheck does not say %q:\n%s", tc.crontab, tc.want, out)
			}
			if strings.HasPrefix(tc.want, "warn") {
				for _, cure := range []string{bin, "PATH=" + dir + ":/usr/bin:/bin"} {
					if !strings.Contains(out, cure) {
						t.Errorf("check's warning does not name %q:\n%s", cure, out)
					}
				}
			}
		})
	}
}

// TestCheckCronOwnLine: the crontab that README shows, with the line
// that check --crontab prints added as its help says, draws no warning:
// that line appends its output to homepost's log, so cron has none of
// its output to lose.
func TestCheckCronOwnLine(t *testing.T) {
	if _, err := os.Lstat("/usr/sbin/sendmail"); err == nil {
		t.Skip("/usr/sbin/sendmail exists here")
	}
	e := saneEnv(t)
	line, _, code := e.run("", "check", "--crontab")
	if code != 0 || !strings.HasPrefix(line, "@reboot ") {
		t.Fatalf("check --crontab: exit %d: %q", code, line)
	}
	crontab := "MAILTO=\"\"\nPATH=" + filepath.Dir(bin) + ":/usr/bin:/bin\n*/5 * * * * homepost cron -- /usr/local/bin/backup --quiet\n" + line
	tools := t.TempDir()
	script := "#!/bin/sh\ncat <<'EOF'\n" + crontab + "EOF\n"
	if err := os.WriteFile(filepath.Join(tools, "crontab"), []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	e.extra = []string{"PATH=" + tools + ":/usr/bin:/bin"}
	if out, _ := e.check(); !hasLine(out, "ok   cron: all 2 job(s) run under homepost cron, or are homepost agent or flush") {
		t.Errorf("crontab:\n%s\ncheck does not say all is well:\n%s", crontab, out)
	}
}
