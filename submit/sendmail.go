package submit

import (
	"errors"
	"fmt"
	"os"
	"strings"

	"homepost/settings"
	"homepost/sysexits"
)

// The sendmail command line, shared by the two programs that answer to
// the name: homepost's multi-call binary (homepost sendmail) and the
// small sendmail program that carries only what queueing needs and
// hands every other mode to homepost. One parser and one runner make
// them behave alike byte for byte.

// SendmailUsage is sendmail --help.
const SendmailUsage = `usage: sendmail [-t] [-i] [-f sender] [-F name] [options] [--] [recipient ...]

Reads a message from standard input and queues it for delivery; exits 0
only once the message is safe on disk.

  -t           also take recipients from To, Cc and Bcc; remove Bcc (with
               any Resent- field: from Resent-To/Cc/Bcc only; remove those Bcc)
  -i, -oi      a line with a single dot does not end the message
  -f ADDR      envelope sender (also -r ADDR); -f '<>' for the null sender
  -F NAME      full name for a generated From header (default: $NAME,
               then the account's name)
  -N DSN       delivery status notification request (never: no bounce;
               passed on to a smarthost that offers DSN, as -R and -V)
  -R RET       return full message or headers in bounces (full, hdrs)
  -V ENVID     envelope id, returned in bounces
  -v           print the queue ID on standard error
  -bm          deliver mail (the default)
  -bp          list the queue (same as mailq)
  -bi, -I      check the alias files (same as newaliases)
  -bs          speak SMTP on standard input and output
  -bv          show what recipients resolve to, send nothing
  -q           retry deferred mail now (same as homepost flush)
  -oem, -oee   errors by mail: a bad recipient address is not refused (exit
               65): the message goes to you, with X-Homepost-Error naming it
Ignored for compatibility: -odi -odb -odq -oXXX -B TYPE -C FILE
  -h N -L TAG -X FILE -O OPT -U -n -m -G -A? -p? -d? -qXXX

Exit status (sysexits): 0 queued, 64 usage, 65 bad message or address,
69 a mode handed on to homepost, which cannot be found, 73 cannot create
the outbox, 75 temporary failure (disk full), 78 nothing can be queued
at all. A configuration file with an error, or one that
cannot be read, is a warning: the message is queued (in the default
outbox when the file does not tell its own) and delivered once the file
is fixed. See sendmail(8).
`

// SendmailArgs is sendmail's parsed command line.
type SendmailArgs struct {
	Opts    Options
	Mode    string // "m" (default), "p", "i", "s", "v", "q"
	Verbose bool
	// Warnings are options ignored for a bad value, as Postfix's
	// sendmail warns of them and goes on.
	Warnings []string
}

// ErrHelp is ParseSendmailArgs's answer to --help.
var ErrHelp = errors.New("help")

// ParseSendmailArgs parses sendmail's command line. Every flag that a
// real caller passes is accepted; the ones that make no sense here are
// ignored, as nullmailer and Postfix do. An unknown flag is an error.
func ParseSendmailArgs(args []string) (*SendmailArgs, error) {
	a := &SendmailArgs{Mode: "m"}
	for k := 0; k < len(args); k++ {
		arg := args[k]
		if arg == "--" {
			a.Opts.Recipients = append(a.Opts.Recipients, args[k+1:]...)
			break
		}
		if len(arg) < 2 || arg[0] != '-' {
			a.Opts.Recipients = append(a.Opts.Recipients, arg)
			continue
		}
		if arg == "--help" || arg == "-help" {
			return nil, ErrHelp
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
				a.Opts.Extract = true
			case 'i':
				a.Opts.IgnoreDots = true
			case 'v':
				a.Verbose = true
			case 'n', 'm', 'U', 'G':
				// no aliasing, me-too, initial submission, gateway:
				// nothing to do
			case 'd':
				// -d, -d0.1, -d8.99,21.4: sendmail's debug flags,
				// the rest of the word; ignored.
				i = len(arg)
			case 'f', 'r':
				v, err := value()
				if err != nil {
					return nil, err
				}
				if strings.TrimSpace(v) == "" {
					// The null sender, as Postfix and sendmail
					// read an empty -f.
					v = "<>"
				}
				a.Opts.Sender = v
			case 'F':
				v, err := value()
				if err != nil {
					return nil, err
				}
				a.Opts.FullName = v
			case 'N', 'R', 'V':
				v, err := value()
				if err != nil {
					return nil, err
				}
				if c == 'N' && !validNotify(v) {
					a.Warnings = append(a.Warnings, fmt.Sprintf("bad -N option value %q -- ignored (never, or a list of success, delay, failure)", v))
					continue
				}
				if c == 'R' && !strings.EqualFold(v, "full") && !strings.EqualFold(v, "hdrs") {
					a.Warnings = append(a.Warnings, fmt.Sprintf("bad -R option value %q -- ignored (full or hdrs)", v))
					continue
				}
				if a.Opts.Opts == nil {
					a.Opts.Opts = map[string]string{}
				}
				a.Opts.Opts[map[byte]string{'N': "notify", 'R': "ret", 'V': "envid"}[c]] = v
			case 'B', 'C', 'h', 'L', 'X', 'O', 'A', 'p':
				if _, err := value(); err != nil {
					return nil, err
				}
			case 'o':
				v, err := value()
				if err != nil {
					return nil, err
				}
				switch v {
				case "i":
					a.Opts.IgnoreDots = true
				case "em", "ee":
					// Errors by mail (or by mail to the
					// sender): a bad recipient address is
					// returned to the user, not refused.
					a.Opts.MailErrors = true
				}
				// -oem -oee -odi -odb -odq and other o-options: ignored.
			case 'b':
				v, err := value()
				if err != nil {
					return nil, err
				}
				switch v {
				case "m", "p", "i", "s", "v":
					a.Mode = v
				case "d", "D", "t", "a", "h", "H", "P":
					return nil, fmt.Errorf("-b%s is not supported: homepost's sendmail has no daemon, address test or host status mode (the agent, homepost agent, is the daemon)", v)
				default:
					return nil, fmt.Errorf("unknown mode -b%s", v)
				}
			case 'I':
				// -I: initialise the alias database, as -bi.
				a.Mode = "i"
			case 'q':
				// -q, -q30m, -qIxxx: retry the queue now.
				a.Mode = "q"
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

// Sendmail is the sendmail command, from its arguments to its exit
// status; each program fills in how it loads the configuration and how
// it runs the modes other than queueing a message.
type Sendmail struct {
	// Load returns the configuration, or nil and the exit status once
	// it has said why on stderr (or, for the small program, handed the
	// whole command to homepost).
	Load func() (*settings.Config, int)
	// Other runs -bp, -bi, -bs, -bv or -q, given the parsed and the
	// original arguments.
	Other func(a *SendmailArgs, args []string) int
}

// Run parses args, prints help or a usage error, hands a mode other
// than -bm to Other, and otherwise queues standard input.
func (s Sendmail) Run(args []string) int {
	a, err := ParseSendmailArgs(args)
	if err == ErrHelp {
		fmt.Print(SendmailUsage)
		return sysexits.OK
	}
	if err != nil {
		Fail("sendmail", err)
		fmt.Fprint(os.Stderr, "usage: sendmail [-t] [-i] [-f sender] [options] [recipient ...]; see sendmail --help\n")
		return sysexits.Usage
	}
	for _, w := range a.Warnings {
		fmt.Fprintf(os.Stderr, "homepost: sendmail: warning: %s\n", w)
	}
	if a.Mode != "m" {
		return s.Other(a, args)
	}
	if a.Opts.FullName == "" {
		// NAME is the full name for a generated From when -F gives
		// none, as Postfix's sendmail(1) and mailx take it.
		a.Opts.FullName = os.Getenv("NAME")
	}
	cfg, code := s.Load()
	if cfg == nil {
		return code
	}
	res, err := Submit(cfg, a.Opts, os.Stdin)
	if err != nil {
		Fail("sendmail", err)
		return ExitCode(err)
	}
	for _, r := range res.Returned {
		fmt.Fprintf(os.Stderr, "homepost: sendmail: %s: a copy goes to %s with the error (-oem)\n", r, cfg.User)
	}
	if a.Verbose {
		fmt.Fprintf(os.Stderr, "homepost: queued as %s\n", res.ID)
	}
	return sysexits.OK
}

// Fail prints "homepost: WHAT: WHY" to stderr.
func Fail(what string, err error) {
	fmt.Fprintf(os.Stderr, "homepost: %s: %v\n", what, err)
}

// validNotify reports whether v is a DSN NOTIFY value (RFC 3461): never,
// or a comma-separated list of success, delay and failure.
func validNotify(v string) bool {
	if strings.EqualFold(v, "never") {
		return true
	}
	for _, w := range strings.Split(v, ",") {
		switch strings.ToLower(strings.TrimSpace(w)) {
		case "success", "delay", "failure":
		default:
			return false
		}
	}
	return true
}
