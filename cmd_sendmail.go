package main

import (
	"errors"
	"fmt"
	"os"
	"strings"

	"homepost/bsmtp"
	"homepost/submit"
	"homepost/sysexits"
)

func init() {
	register(command{
		name:    "sendmail",
		aliases: []string{"sendmail", "send-mail", "sendmail.homepost"},
		summary: "queue a message (sendmail(8) compatible)",
		run:     runSendmail,
	})
}

const sendmailUsage = `usage: sendmail [-t] [-i] [-f sender] [-F name] [options] [--] [recipient ...]

Reads a message from standard input and queues it for delivery; exits 0
only once the message is safe on disk.

  -t           also take recipients from To, Cc and Bcc; remove Bcc
  -i, -oi      a line with a single dot does not end the message
  -f ADDR      envelope sender (also -r ADDR); -f '<>' for the null sender
  -F NAME      full name for a generated From header
  -N DSN       delivery status notification request (kept, not acted on)
  -R RET       return full message or headers in bounces (kept)
  -V ENVID     envelope id (kept)
  -v           print the queue ID on standard error
  -bm          deliver mail (the default)
  -bp          list the queue (same as mailq)
  -bi, -I      check the alias files (same as newaliases)
  -bs          speak SMTP on standard input and output
  -bv          show what recipients resolve to, send nothing
  -q           retry deferred mail now (same as homepost flush)
Ignored for compatibility: -oem -oee -odi -odb -odq -oXXX -B TYPE -C FILE
  -h N -L TAG -X FILE -O OPT -U -n -m -G -A? -p? -qXXX

Exit status (sysexits): 0 queued, 64 usage, 65 bad message or address,
73 cannot create the outbox, 75 temporary failure (disk full), 78 config.
See sendmail(8).
`

// sendmailArgs is the parsed command line.
type sendmailArgs struct {
	opts    submit.Options
	mode    string // "m" (default), "p", "i", "s", "v", "q"
	verbose bool
}

// parseSendmailArgs parses sendmail's command line. Every flag that a real
// caller passes is accepted; the ones that make no sense here are
// ignored, as nullmailer and Postfix do. An unknown flag is an error.
func parseSendmailArgs(args []string) (*sendmailArgs, error) {
	a := &sendmailArgs{mode: "m"}
	for k := 0; k < len(args); k++ {
		arg := args[k]
		if arg == "--" {
			a.opts.Recipients = append(a.opts.Recipients, args[k+1:]...)
			break
		}
		if len(arg) < 2 || arg[0] != '-' {
			a.opts.Recipients = append(a.opts.Recipients, arg)
			continue
		}
		if arg == "--help" || arg == "-help" {
			return nil, errHelp
		}
		if strings.HasPrefix(arg, "--") {
			// sendmail has no long options; name the whole word, not
			// its second dash.
			return nil, fmt.Errorf("unknown option %s", arg)
		}
		// value returns the flag's argument: the rest of this word or
		// the next word.
		for i := 1; i < len(arg); i++ {
			c := arg[i]
			rest := arg[i+1:]
			value := func() (string, error) {
				if rest != "" {
					i = len(arg)
					return rest, nil
				}
				if k+1 >= len(args) {
					return "", fmt.Errorf("option -%c requires an argument", c)
				}
				k++
				i = len(arg)
				return args[k], nil
			}
			switch c {
			case 't':
				a.opts.Extract = true
			case 'i':
				a.opts.IgnoreDots = true
			case 'v':
				a.verbose = true
			case 'n', 'm', 'U', 'G', 'd':
				// no aliasing, me-too, initial submission, gateway,
				// debug: nothing to do
			case 'f', 'r':
				v, err := value()
				if err != nil {
					return nil, err
				}
				a.opts.Sender = v
			case 'F':
				v, err := value()
				if err != nil {
					return nil, err
				}
				a.opts.FullName = v
			case 'N', 'R', 'V':
				v, err := value()
				if err != nil {
					return nil, err
				}
				if a.opts.Opts == nil {
					a.opts.Opts = map[string]string{}
				}
				a.opts.Opts[map[byte]string{'N': "notify", 'R': "ret", 'V': "envid"}[c]] = v
			case 'B', 'C', 'h', 'L', 'X', 'O', 'A', 'p':
				if _, err := value(); err != nil {
					return nil, err
				}
			case 'o':
				v, err := value()
				if err != nil {
					return nil, err
				}
				if v == "i" {
					a.opts.IgnoreDots = true
				}
				// -oem -oee -odi -odb -odq and other o-options: ignored.
			case 'b':
				v, err := value()
				if err != nil {
					return nil, err
				}
				switch v {
				case "m", "p", "i", "s", "v":
					a.mode = v
				case "d", "D", "t", "a", "h", "H", "P":
					return nil, fmt.Errorf("-b%s is not supported: homepost runs no daemon and no address test mode", v)
				default:
					return nil, fmt.Errorf("unknown mode -b%s", v)
				}
			case 'I':
				// -I: initialise the alias database, as -bi.
				a.mode = "i"
			case 'q':
				// -q, -q30m, -qIxxx: retry the queue now.
				a.mode = "q"
				i = len(arg)
			default:
				if len(arg) > 2 {
					return nil, fmt.Errorf("unknown option -%c in %s", c, arg)
				}
				return nil, fmt.Errorf("unknown option -%c", c)
			}
		}
	}
	return a, nil
}

var errHelp = errors.New("help")

func runSendmail(args []string) int {
	a, err := parseSendmailArgs(args)
	if err == errHelp {
		fmt.Print(sendmailUsage)
		return sysexits.OK
	}
	if err != nil {
		fail("sendmail", err)
		fmt.Fprint(os.Stderr, "usage: sendmail [-t] [-i] [-f sender] [options] [recipient ...]; see sendmail --help\n")
		return sysexits.Usage
	}
	switch a.mode {
	case "p":
		return runMailq(nil)
	case "s":
		cfg, code := loadConfig("sendmail")
		if cfg == nil {
			return code
		}
		if err := bsmtp.Serve(cfg, os.Stdin, os.Stdout); err != nil {
			fail("sendmail -bs", err)
			return exitCode(err)
		}
		return sysexits.OK
	case "i", "v", "q":
		name := map[string]string{"i": "newaliases", "v": "resolve", "q": "flush"}[a.mode]
		c := lookup(name, false)
		if c == nil {
			fail("sendmail", fmt.Errorf("-b%s is not available in this build", a.mode))
			return sysexits.Usage
		}
		var rest []string
		if a.mode == "v" {
			rest = a.opts.Recipients
		}
		return c.run(rest)
	}
	cfg, code := loadConfig("sendmail")
	if cfg == nil {
		return code
	}
	res, err := submit.Submit(cfg, a.opts, os.Stdin)
	if err != nil {
		fail("sendmail", err)
		return exitCode(err)
	}
	if a.verbose {
		fmt.Fprintf(os.Stderr, "homepost: queued as %s\n", res.ID)
	}
	return sysexits.OK
}
