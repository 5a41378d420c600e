package smtpd

import (
	"fmt"
	"net"
	"time"

	"github.com/emersion/go-smtp"

	"homepost/config"
)

// Probe is one address of the listener as homepost check sees it.
type Probe struct {
	Network, Addr string
	// Err is why a NOOP session failed; nil: the listener answered.
	Err error
	// Extensions are those the server offered, of the ones clients use.
	Extensions []string
	// Owner is the uid of the listening socket that answered on a TCP
	// address (ListenerUID), -1 when unknown (OwnerErr says why) or on
	// the Unix socket.
	Owner    int
	OwnerErr error
}

// ProbeAll tries a session (EHLO, NOOP, QUIT) on the Unix socket and on
// every TCP address of cfg's [smtp] table.
func ProbeAll(cfg *config.Config, timeout time.Duration) []Probe {
	out := []Probe{probe("unix", cfg.SMTP.Socket, timeout)}
	for _, a := range cfg.SMTP.Listen {
		out = append(out, probe("tcp", a, timeout))
	}
	return out
}

func probe(network, addr string, timeout time.Duration) Probe {
	p := Probe{Network: network, Addr: addr, Owner: -1}
	if network == "unix" {
		if p.Err = checkSocketPath(addr); p.Err != nil {
			return p
		}
	}
	c, err := net.DialTimeout(network, addr, timeout)
	if err != nil {
		p.Err = err
		return p
	}
	if ta, ok := c.RemoteAddr().(*net.TCPAddr); ok {
		p.Owner, p.OwnerErr = ListenerUID(ta)
	}
	c.SetDeadline(time.Now().Add(timeout))
	cl := smtp.NewClient(c)
	// go-smtp sets its own deadline for each reply (five minutes for
	// the greeting): a listener that never answers must cost timeout.
	cl.CommandTimeout, cl.SubmissionTimeout = timeout, timeout
	defer cl.Close()
	if err := cl.Hello("localhost"); err != nil {
		p.Err = fmt.Errorf("EHLO: %w", err)
		return p
	}
	for _, ext := range []string{"PIPELINING", "8BITMIME", "SMTPUTF8", "SIZE", "ENHANCEDSTATUSCODES", "CHUNKING", "AUTH"} {
		if ok, _ := cl.Extension(ext); ok {
			p.Extensions = append(p.Extensions, ext)
		}
	}
	if err := cl.Noop(); err != nil {
		p.Err = fmt.Errorf("NOOP: %w", err)
		return p
	}
	if err := cl.Quit(); err != nil {
		p.Err = fmt.Errorf("QUIT: %w", err)
	}
	return p
}
