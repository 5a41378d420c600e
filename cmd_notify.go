package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"time"

	"homepost/config"
	"homepost/submit"
	"homepost/sysexits"
)

func init() {
	register(command{
		name:    "notify",
		summary: "mail a failed systemd unit's status and journal to the user",
		run:     runNotify,
	})
}

const notifyUsage = `usage: homepost notify [--system] UNIT

Mails the user the status of UNIT (systemctl --user status) and its last
50 journal lines (journalctl --user -u UNIT), with the subject
"[HOST] unit UNIT failed". It is what homepost-notify@.service runs; any
user unit reports its failures by mail with

  [Unit]
  OnFailure=homepost-notify@%n.service

Where systemctl or journalctl is missing, the mail still names the unit,
the host and the failure that systemd passed in $MONITOR_*. --system asks
about a system unit instead. See homepost(1).
`

// notifyTimeout bounds each systemctl and journalctl call: a hung
// journal must not keep the report from being sent.
const notifyTimeout = 20 * time.Second

// notifyMaxOutput bounds each command's output in the mail.
const notifyMaxOutput = 256 << 10

func runNotify(args []string) int {
	system := false
	var unit string
	for i := 0; i < len(args); i++ {
		switch a := args[i]; {
		case a == "-h" || a == "--help":
			fmt.Print(notifyUsage)
			return sysexits.OK
		case a == "--system":
			system = true
		case a == "--user":
			system = false
		case a == "--":
			if i+1 < len(args) && unit == "" {
				unit = args[i+1]
				i++
			}
		case strings.HasPrefix(a, "-"):
			fail("notify", fmt.Errorf("unknown option %s", a))
			return sysexits.Usage
		case unit != "":
			fail("notify", errors.New("give one unit"))
			return sysexits.Usage
		default:
			unit = a
		}
	}
	if err := checkUnitName(unit); err != nil {
		fail("notify", err)
		fmt.Fprint(os.Stderr, "usage: homepost notify [--system] UNIT\n")
		return sysexits.Usage
	}
	cfg, code := loadConfig("notify")
	if cfg == nil {
		return code
	}
	msg := notifyMessage(cfg, unit, system, time.Now())
	if _, err := submit.Submit(cfg, submit.Options{Recipients: []string{cfg.User}, IgnoreDots: true}, msg); err != nil {
		fail("notify", err)
		return exitCode(err)
	}
	return sysexits.OK
}

// checkUnitName accepts what systemd accepts in a unit name (letters,
// digits and ":-_.\@"), so that the name is safe in a command line and a
// subject.
func checkUnitName(u string) error {
	if u == "" {
		return errors.New("no unit given")
	}
	if len(u) > 256 {
		return errors.New("unit name too long")
	}
	for _, r := range u {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune(":-_.\\@", r)) {
			return fmt.Errorf("%q is not a unit name", u)
		}
	}
	if u[0] == '-' {
		return fmt.Errorf("%q is not a unit name", u)
	}
	return nil
}

// notifyMessage builds the report. It never fails: whatever cannot be
// found out is said in the message.
func notifyMessage(cfg *config.Config, unit string, system bool, now time.Time) io.Reader {
	scope := "--user"
	if system {
		scope = "--system"
	}
	var body bytes.Buffer
	fmt.Fprintf(&body, "The systemd unit %s on %s failed", unit, cfg.Hostname)
	if r := os.Getenv("MONITOR_SERVICE_RESULT"); r != "" {
		fmt.Fprintf(&body, " (result: %s)", r)
	}
	fmt.Fprintf(&body, ".\nReported at %s.\n", now.Format(time.RFC1123Z))
	// systemd (v251 and later) tells an OnFailure= unit how the
	// monitored unit ended; this is all there is without systemctl.
	for _, k := range []string{"MONITOR_UNIT", "MONITOR_SERVICE_RESULT", "MONITOR_EXIT_CODE", "MONITOR_EXIT_STATUS", "MONITOR_INVOCATION_ID"} {
		if v := os.Getenv(k); v != "" {
			fmt.Fprintf(&body, "%s=%s\n", k, v)
		}
	}
	section := func(title string, argv ...string) {
		fmt.Fprintf(&body, "\n---- %s\n$ %s\n", title, strings.Join(argv, " "))
		out, err := runCaptured(argv)
		body.Write(out)
		if len(out) > 0 && out[len(out)-1] != '\n' {
			body.WriteByte('\n')
		}
		if err != nil {
			fmt.Fprintf(&body, "(%v)\n", err)
		}
	}
	section("status", "systemctl", scope, "status", "--no-pager", "--full", "--lines=0", "--", unit)
	section("last journal lines", "journalctl", scope, "-u", unit, "-n", "50", "--no-pager")
	fmt.Fprintf(&body, "\nRestart it with: systemctl %s restart %s\n", scope, unit)

	qp, _ := needsQP(bytes.NewReader(body.Bytes()))
	var hdr strings.Builder
	fmt.Fprintf(&hdr, "To: %s\n", cfg.User)
	fmt.Fprintf(&hdr, "Subject: %s\n", encodeHeader(fmt.Sprintf("[%s] unit %s failed", cfg.Hostname, unit)))
	hdr.WriteString("Auto-Submitted: auto-generated\nMIME-Version: 1.0\nContent-Type: text/plain; charset=utf-8\n")
	if qp {
		hdr.WriteString("Content-Transfer-Encoding: quoted-printable\n\n")
		var enc bytes.Buffer
		bw := bufio.NewWriter(&enc)
		q := &qpWriter{w: bw}
		q.Write(body.Bytes())
		q.Close()
		bw.Flush()
		body = enc
	} else {
		hdr.WriteString("Content-Transfer-Encoding: 8bit\n\n")
	}
	return io.MultiReader(strings.NewReader(hdr.String()), &body)
}

// runCaptured runs a command with a timeout and returns its merged output
// (bounded). A non-zero exit is not an error: systemctl status exits 3
// for a failed unit. A missing program is.
func runCaptured(argv []string) ([]byte, error) {
	ctx, cancel := context.WithTimeout(context.Background(), notifyTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.Env = append(os.Environ(), "SYSTEMD_COLORS=0", "SYSTEMD_PAGER=", "PAGER=cat")
	cmd.Stdin = nil
	var out bytes.Buffer
	lw := &limitWriter{w: &out, n: notifyMaxOutput}
	cmd.Stdout, cmd.Stderr = lw, lw
	err := cmd.Run()
	if errors.Is(err, exec.ErrNotFound) {
		return nil, fmt.Errorf("%s is not available on this host", argv[0])
	}
	if ctx.Err() != nil {
		return out.Bytes(), fmt.Errorf("%s timed out after %v", argv[0], notifyTimeout)
	}
	var xe *exec.ExitError
	if err != nil && !errors.As(err, &xe) {
		return out.Bytes(), err
	}
	if err != nil && out.Len() == 0 {
		return nil, fmt.Errorf("%s exited %d and printed nothing", argv[0], xe.ExitCode())
	}
	return out.Bytes(), nil
}
