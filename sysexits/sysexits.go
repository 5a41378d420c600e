// Package sysexits declares the exit statuses of sysexits(3), the
// vocabulary that sendmail and its callers (cron, mail user agents,
// scripts) use to tell a message refused for good (64–78 except 75)
// from one worth trying again (EX_TEMPFAIL, 75).
//
// Every command of homepost exits with these, and the delivery to a
// |command target and through an exec: relay reads them back, so they
// are declared once, here.
package sysexits

// The statuses, named after sysexits.h without the EX_ prefix.
const (
	OK          = 0  // EX_OK: successful termination
	Usage       = 64 // EX_USAGE: command line usage error
	DataErr     = 65 // EX_DATAERR: data format error
	NoInput     = 66 // EX_NOINPUT: cannot open input
	NoUser      = 67 // EX_NOUSER: addressee unknown
	NoHost      = 68 // EX_NOHOST: host name unknown
	Unavailable = 69 // EX_UNAVAILABLE: service unavailable
	Software    = 70 // EX_SOFTWARE: internal software error
	OSErr       = 71 // EX_OSERR: system error (e.g., can't fork)
	OSFile      = 72 // EX_OSFILE: critical OS file missing
	CantCreate  = 73 // EX_CANTCREAT: can't create (user) output file
	IOErr       = 74 // EX_IOERR: input/output error
	TempFail    = 75 // EX_TEMPFAIL: temporary failure; the user is invited to retry
	Protocol    = 76 // EX_PROTOCOL: remote error in protocol
	NoPerm      = 77 // EX_NOPERM: permission denied
	Config      = 78 // EX_CONFIG: configuration error
)

// Temporary reports whether a command that exited with status asks to be
// tried again later: EX_TEMPFAIL and EX_OSERR, as Postfix reads them.
func Temporary(status int) bool { return status == TempFail || status == OSErr }
