package report

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"homepost/capture"
)

// UnitTimeout bounds each systemctl and journalctl call: a hung journal
// must not keep the report from being sent.
const UnitTimeout = 20 * time.Second

// unitMaxOutput bounds each command's output in the mail.
const unitMaxOutput = 256 << 10

// Unit is what the report of a failed systemd unit says.
type Unit struct {
	Host   string // this host's name
	To     string // the recipient
	Name   string // the unit, checked by CheckUnitName
	System bool   // a system unit, not one of the user's
	Now    time.Time
}

// CheckUnitName accepts what systemd accepts in a unit name (letters,
// digits and ":-_.\@"), so that the name is safe in a command line and a
// subject.
func CheckUnitName(u string) error {
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

// Message builds the report: the unit's status (systemctl status) and
// its last 50 journal lines (journalctl), and what systemd passed in
// $MONITOR_*. It never fails: whatever cannot be found out is said in
// the message.
func (u Unit) Message() io.Reader {
	scope := "--user"
	if u.System {
		scope = "--system"
	}
	unit := u.Name
	var body bytes.Buffer
	fmt.Fprintf(&body, "The systemd unit %s on %s failed", unit, u.Host)
	if r := os.Getenv("MONITOR_SERVICE_RESULT"); r != "" {
		fmt.Fprintf(&body, " (result: %s)", r)
	}
	fmt.Fprintf(&body, ".\nReported at %s.\n", u.Now.Format(time.RFC1123Z))
	// systemd (v251 and later) tells an OnFailure= unit how the
	// monitored unit ended; this is all there is without systemctl.
	for _, k := range []string{"MONITOR_UNIT", "MONITOR_SERVICE_RESULT", "MONITOR_EXIT_CODE", "MONITOR_EXIT_STATUS", "MONITOR_INVOCATION_ID"} {
		if v := os.Getenv(k); v != "" {
			fmt.Fprintf(&body, "%s=%s\n", k, v)
		}
	}
	section := func(title string, argv ...string) {
		fmt.Fprintf(&body, "\n---- %s\n$ %s\n", title, strings.Join(argv, " "))
		out, err := capture.Output(argv, UnitTimeout, unitMaxOutput)
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
	var hdr bytes.Buffer
	fields := append([]field{
		{"To", u.To},
		textHeader("Subject", fmt.Sprintf("[%s] unit %s failed", u.Host, unit)),
	}, textFields(qp)...)
	writeHeader(&hdr, fields) // a bytes.Buffer does not fail
	if qp {
		var enc bytes.Buffer
		bw := bufio.NewWriter(&enc)
		q := &qpWriter{w: bw}
		q.Write(body.Bytes())
		q.Close()
		bw.Flush()
		body = enc
	}
	return io.MultiReader(&hdr, &body)
}
