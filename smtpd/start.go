package smtpd

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"slices"
	"strings"
	"time"

	"github.com/coreos/go-systemd/v22/activation"

	"homepost/config"
)

// Activated returns the listening sockets that systemd passed to this
// process (socket activation: homepost-smtp.socket), and clears
// $LISTEN_FDS so that the commands the agent runs do not inherit them.
// A TCP socket that is not on loopback is closed and reported, not
// served: mail accepted there would leave through the user's smarthost.
func Activated() ([]net.Listener, error) {
	ls, err := activation.Listeners()
	var out []net.Listener
	var errs []error
	if err != nil {
		errs = append(errs, err)
	}
	for _, l := range ls {
		if l == nil {
			continue // not a stream socket
		}
		if ta, ok := l.Addr().(*net.TCPAddr); ok && !ta.IP.IsLoopback() {
			l.Close()
			errs = append(errs, fmt.Errorf("systemd passed a socket on %s, which is not a loopback address: not served", ta))
			continue
		}
		out = append(out, l)
	}
	return out, errors.Join(errs...)
}

// Start serves the listener for the agent: on the sockets systemd
// passed, if any, and, when [smtp] enabled is true, on the Unix socket
// and loopback addresses of the configuration that systemd did not
// pass. It returns at once; stop closes everything, and where lists the
// addresses served ("unix:/path,tcp:127.0.0.1:2525") for the agent's
// start line. When some of the configured
// sockets cannot be opened it returns an error naming each, and serves
// the others and those systemd passed all the same. The caller holds
// the agent's lock.
func Start(cfg *config.Config, log *slog.Logger) (stop func(), where string, err error) {
	passed, aerr := Activated()
	if aerr != nil {
		log.Error("smtp: "+aerr.Error(), "status", "refused")
	}
	var own []net.Listener
	if cfg.SMTP.Enabled {
		own, err = Listen(cfg, passed)
	}
	all := append(passed, own...)
	if len(all) == 0 {
		return nil, "", err
	}
	s := New(cfg, log)
	var addrs []string
	for _, l := range all {
		go s.Serve(l)
		a := l.Addr().Network() + ":" + l.Addr().String()
		if k := slices.Index(passed, l); k >= 0 {
			a += "(systemd)"
		}
		addrs = append(addrs, a)
	}
	return func() { s.Close(5 * time.Second) }, strings.Join(addrs, ","), err
}
