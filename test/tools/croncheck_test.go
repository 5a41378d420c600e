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
