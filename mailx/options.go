package mailx

import (
	"fmt"
	"strings"
)

// options are the command-line options of mail(1).
type options struct {
	subject    string
	hasSubject bool
	cc, bcc    []string
	from       string       // -r
	attach     []attachment // -a, and GNU mailutils' -A and --attach
	user       string       // -u, refused
	noEmpty    bool         // -E
	checkMail  bool         // -e
	headers    bool         // -H
	noHeaders  bool         // -N
	noSysRC    bool         // -n
	verbose    bool         // -v
	file       bool         // -f
	tilde      bool         // -~: tilde escapes even when not reading a terminal
	extract    bool         // -t
	help       bool
	operands   []string
	// early are the -S variables and -E commands (GNU mailutils),
	// run in order after the start-up files.
	early []earlyCmd
	ctype string // the last --content-type, for the -A files after it
}

// attachment is a file to attach. ctype is the content type it was
// given (mailutils' --content-type; "" guesses it); file says it must
// be a file (-A), where -a naming no file may be a header line.
type attachment struct {
	path, ctype string
	file        bool
}

// earlyCmd is one -S var[=value] (set) or -E command (exec).
type earlyCmd struct {
	set, exec string
}

// UsageText is printed by --help; man/mail.1 documents the same options.
const UsageText = `usage: mail [-EiNnv~t] [-s subject] [-a file] [-A file] [-c addr] [-b addr]
            [-r from] [-S var[=value]] addr...
       mail [-eHiNn] [-S var[=value]] [-f [file]]

Send mode (addresses given): the message is read from standard input and
queued in homepost's outbox. From a terminal, lines starting with ~ are
tilde escapes (~? lists them) and a line holding only "." ends the message.
  -s subject  the Subject (may be glued: -s"text")
  -c addr     Cc recipients (comma-separated)
  -b addr     Bcc recipients (not shown in the message)
  -r from     the From address and envelope sender
  -a file     attach file as a MIME part (a text names its charset);
              "Name: value" naming no file is a header line (as bsd-mailx
              has it), RFC 2047-encoded where it is not ASCII
  -A file     attach file (GNU mailutils; --attach=file, with the type of
              the last --content-type=type); --subject, --cc, --bcc,
              --return-address, --append=header, --exec, -M and --mime are
              taken as mailutils takes them
  -E          send nothing when the body is empty; -E 'set escape' (a
              word that cannot be an address) runs a command first
  -S var[=value]  set a variable, as "set" in ~/.mailrc
  -t          also take recipients from the To, Cc and Bcc of the message
  -~          tilde escapes even when standard input is not a terminal
  -v          report the queue id

Read mode (no addresses): read the mailbox $MAIL names, else the mail
store (~/Maildir, or the mbox set by store = "mbox:/path"), or with -f
another mailbox (default ~/mbox); a path ending in / or a directory with
cur/, new/, tmp/ is a Maildir.
  -f [file]   read file (default ~/mbox) instead of $MAIL or the store
  -e          exit 0 if there is mail, 1 otherwise; print nothing
  -H          print the header summary and exit
  -N          do not print the header summary at startup
  -n          do not read the system start-up file /etc/mail.rc
  -u user     refused: homepost serves one user
  -i          ignored (interrupts are always handled)

Type ? at the & prompt for the commands. See mail(1).
`

// needArg lists the options that take an argument.
const needArg = "sbcrauqFTOSA"

// longOptions are GNU mailutils' long options that mail takes (scripts
// written for mailutils use them), each with whether it takes a value
// and the short option it is, if any.
var longOptions = map[string]struct {
	arg   bool
	short byte
}{
	"subject": {true, 's'}, "cc": {true, 'c'}, "bcc": {true, 'b'},
	"return-address": {true, 'r'}, "append": {true, 'a'}, "attach": {true, 'A'},
	"exec": {true, 0}, "content-type": {true, 0}, "mime": {false, 0},
}

// parseOptions parses POSIX getopt-style options: clustered flags (-nN),
// arguments glued (-s"Subject") or separate, "--" ending options.
func parseOptions(args []string) (*options, error) {
	o := &options{}
	i := 0
	dashdash := false
	for ; i < len(args); i++ {
		a := args[i]
		if a == "--" {
			i++
			dashdash = true
			break
		}
		if a == "--help" || a == "-h" && len(args) == 1 {
			o.help = true
			return o, nil
		}
		if len(a) < 2 || a[0] != '-' {
			break
		}
		if strings.HasPrefix(a, "--") {
			name, val, hasVal := strings.Cut(a[2:], "=")
			lo, ok := longOptions[name]
			if !ok {
				return nil, fmt.Errorf("unknown option --%s", name)
			}
			if lo.arg && !hasVal {
				if i+1 >= len(args) {
					return nil, fmt.Errorf("option --%s requires an argument", name)
				}
				i++
				val = args[i]
			}
			switch {
			case !lo.arg && hasVal:
				return nil, fmt.Errorf("option --%s takes no argument", name)
			case name == "exec":
				o.early = append(o.early, earlyCmd{exec: val})
			case name == "content-type":
				o.ctype = val
			case name == "mime":
				// Attachments are always sent as MIME parts.
			default:
				if err := o.setArg(lo.short, val); err != nil {
					return nil, err
				}
			}
			continue
		}
		for j := 1; j < len(a); j++ {
			c := a[j]
			if strings.IndexByte(needArg, c) >= 0 {
				var val string
				if j+1 < len(a) {
					val = a[j+1:]
				} else if i+1 < len(args) {
					i++
					val = args[i]
				} else {
					return nil, fmt.Errorf("option -%c requires an argument", c)
				}
				if err := o.setArg(c, val); err != nil {
					return nil, err
				}
				break
			}
			switch c {
			case 'E':
				// POSIX -E takes no argument; GNU mailutils' -E
				// runs a mail command. A next word that cannot be
				// an address is mailutils' command.
				if j == len(a)-1 && i+1 < len(args) && isMailCommand(args[i+1]) {
					i++
					o.early = append(o.early, earlyCmd{exec: args[i]})
					continue
				}
				o.noEmpty = true
			case 'e':
				o.checkMail = true
			case 'H':
				o.headers = true
			case 'N':
				o.noHeaders = true
			case 'n':
				o.noSysRC = true
			case 'v':
				o.verbose = true
			case 'f':
				o.file = true
			case '~':
				o.tilde = true
			case 't':
				o.extract = true
			case 'M':
				// GNU mailutils' --mime: attachments are always
				// sent as MIME parts.
			case 'i', 'I', 'd', 'D':
				// -i: ignore interrupts; -I, -d: BSD/s-nail debug and
				// newsgroup flags. Accepted so that no caller breaks.
			default:
				return nil, fmt.Errorf("unknown option -%c", c)
			}
		}
	}
	o.operands = args[i:]
	// Options may follow the addresses, as BSD mail allows
	// (mail root -s hi): parse what remains after the first operand.
	if len(o.operands) > 0 && !dashdash {
		var ops []string
		rest := o.operands
		for k := 0; k < len(rest); k++ {
			if strings.HasPrefix(rest[k], "-") && len(rest[k]) > 1 {
				sub, err := parseOptions(rest[k:])
				if err != nil {
					return nil, err
				}
				o.merge(sub)
				ops = append(ops, sub.operands...)
				break
			}
			ops = append(ops, rest[k])
		}
		o.operands = ops
	}
	return o, nil
}

// isMailCommand reports whether the word after -E is a mail command
// rather than an address: it holds blank space, or it is the full name
// of a command.
func isMailCommand(w string) bool {
	return strings.ContainsAny(w, " \t") || lookupExact(w) != nil
}

func (o *options) setArg(c byte, val string) error {
	switch c {
	case 's':
		o.subject, o.hasSubject = val, true
	case 'c':
		o.cc = append(o.cc, val)
	case 'b':
		o.bcc = append(o.bcc, val)
	case 'r':
		o.from = val
	case 'a':
		o.attach = append(o.attach, attachment{path: val})
	case 'A':
		o.attach = append(o.attach, attachment{val, o.ctype, true})
	case 'u':
		o.user = val
	case 'S':
		o.early = append(o.early, earlyCmd{set: val})
	case 'q', 'F', 'T', 'O':
		return fmt.Errorf("option -%c is not supported", c)
	}
	return nil
}

// merge adds options found after the first address.
func (o *options) merge(p *options) {
	if p.hasSubject {
		o.subject, o.hasSubject = p.subject, true
	}
	o.cc = append(o.cc, p.cc...)
	o.bcc = append(o.bcc, p.bcc...)
	o.attach = append(o.attach, p.attach...)
	o.early = append(o.early, p.early...)
	if p.from != "" {
		o.from = p.from
	}
	if p.user != "" {
		o.user = p.user
	}
	o.noEmpty = o.noEmpty || p.noEmpty
	o.noHeaders = o.noHeaders || p.noHeaders
	o.noSysRC = o.noSysRC || p.noSysRC
	o.verbose = o.verbose || p.verbose
	o.tilde = o.tilde || p.tilde
	o.extract = o.extract || p.extract
	o.checkMail = o.checkMail || p.checkMail
	o.headers = o.headers || p.headers
	o.file = o.file || p.file
	o.help = o.help || p.help
}
