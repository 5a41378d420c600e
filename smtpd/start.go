package smtpd

import (
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
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
	svc, where, err := StartService(cfg, log)
	if svc == nil {
		return nil, "", err
	}
	return svc.Stop, where, err
}

// Service is the listener of a running agent: what StartService opened,
// kept in line with the configuration at each reload (Reconfigure).
type Service struct {
	log *slog.Logger

	mu  sync.Mutex
	cfg *config.Config
	// cur serves the listeners; servers are every server that may
	// still have sessions open (those of configurations before).
	cur     *Server
	servers []*Server
	// passed are the sockets systemd passed; own are those opened for
	// the configuration, by what it names ("unix /path", "tcp
	// localhost:2525", which is two listeners).
	passed []*handoff
	own    map[string][]*handoff
	// failed: the last Reconfigure could not open an address; the
	// next one asked for (retry) tries again even with the same
	// configuration.
	failed bool
	// failing are the addresses (by key, as own) whose opening failed
	// the last time it was tried: a reload that was not asked for and
	// leaves [smtp] as it was does not try them again, nor report
	// them again (a changed .forward would log the same "address
	// already in use" each time).
	failing map[string]bool
}

// StartService is Start, returning the Service, which Reconfigure
// keeps in line with a reloaded configuration. A nil Service: nothing
// is served (and err says why, if anything failed).
func StartService(cfg *config.Config, log *slog.Logger) (*Service, string, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	passed, aerr := Activated()
	if aerr != nil {
		log.Error("smtp: "+aerr.Error(), "status", "refused")
	}
	svc := &Service{log: log, cfg: cfg, cur: New(cfg, log), own: map[string][]*handoff{}, failing: map[string]bool{}}
	svc.servers = []*Server{svc.cur}
	var addrs []string
	for _, l := range passed {
		h := svc.serve(l)
		svc.passed = append(svc.passed, h)
		addrs = append(addrs, l.Addr().Network()+":"+l.Addr().String()+"(systemd)")
	}
	opened, err := svc.open(cfg, true)
	svc.failed = err != nil
	addrs = append(addrs, opened...)
	if len(svc.passed) == 0 && len(svc.own) == 0 {
		return nil, "", err
	}
	return svc, strings.Join(addrs, ","), err
}

// serve serves l on the current server, through a handoff that a later
// configuration can take it from without closing it.
func (svc *Service) serve(l net.Listener) *handoff {
	h := &handoff{Listener: l, done: make(chan struct{})}
	svc.cur.track(1)
	go func(s *Server) {
		s.Serve(h)
		s.track(-1)
		close(h.done)
	}(svc.cur)
	return h
}

// wanted lists what cfg names to listen on, by key, leaving out what
// systemd passed.
func (svc *Service) wanted(cfg *config.Config) []string {
	got := map[string]bool{}
	for _, h := range svc.passed {
		l := h.Listener
		got[l.Addr().Network()+" "+l.Addr().String()] = true
		if ta, ok := l.Addr().(*net.TCPAddr); ok && ta.IP.IsLoopback() {
			got["tcp localhost:"+strconv.Itoa(ta.Port)] = true
		}
	}
	if !cfg.SMTP.Enabled {
		return nil
	}
	var keys []string
	for _, k := range append([]string{"unix " + cfg.SMTP.Socket}, prefixed("tcp ", cfg.SMTP.Listen)...) {
		if !got[k] && !slices.Contains(keys, k) {
			keys = append(keys, k)
		}
	}
	return keys
}

func prefixed(p string, ss []string) []string {
	out := make([]string, len(ss))
	for i, s := range ss {
		out[i] = p + s
	}
	return out
}

// open opens and serves what cfg names that is not open yet, and
// returns the addresses it opened; an address that cannot be opened
// does not keep the others from being served (see Listen). Unless
// retry, an address whose opening failed before is left as it is, and
// not reported again.
func (svc *Service) open(cfg *config.Config, retry bool) ([]string, error) {
	var errs []error
	if err := svc.ensureSecret(cfg); err != nil {
		errs = append(errs, err)
	}
	var addrs []string
	wanted := svc.wanted(cfg)
	// What is no longer named is no longer tried.
	maps.DeleteFunc(svc.failing, func(k string, _ bool) bool { return !slices.Contains(wanted, k) })
	for _, k := range wanted {
		if _, ok := svc.own[k]; ok {
			delete(svc.failing, k)
			continue
		}
		if svc.failing[k] && !retry {
			continue
		}
		var ls []net.Listener
		var err error
		if path, ok := strings.CutPrefix(k, "unix "); ok {
			var l net.Listener
			if l, err = listenUnix(path, ownDir(cfg, filepath.Dir(path))); err == nil {
				ls = []net.Listener{l}
			}
		} else {
			ls, err = listenTCP(strings.TrimPrefix(k, "tcp "))
		}
		if err != nil {
			errs = append(errs, err)
			svc.failing[k] = true
		} else {
			delete(svc.failing, k)
		}
		if len(ls) == 0 {
			continue
		}
		for _, l := range ls {
			svc.own[k] = append(svc.own[k], svc.serve(l))
			addrs = append(addrs, l.Addr().Network()+":"+l.Addr().String())
		}
	}
	return addrs, errors.Join(errs...)
}

// ensureSecret makes the secret that clients of other users log in
// with, when cfg listens on TCP and the file is missing (it was never
// made, or it was removed since), and logs it.
// Without it only clients of other users are refused.
func (svc *Service) ensureSecret(cfg *config.Config) error {
	if !cfg.SMTP.Enabled || len(cfg.SMTP.Listen) == 0 {
		return nil
	}
	created, err := EnsureSecret(cfg.SMTP.SecretFile)
	if created && err == nil {
		svc.log.Info("smtp: new secret for clients of other users", "file", cfg.SMTP.SecretFile)
	}
	return err
}

// Reconfigure follows a reloaded configuration: new sessions are served
// with it (their limits, host name, and how they queue), addresses it
// no longer names are closed and those it names anew opened; sessions
// in progress end under the configuration they began with. A socket
// kept is handed from the old server to the new one without being
// closed: a client connecting meanwhile waits in its backlog. The
// secret of clients of other users is made anew if its file is
// missing, even when the configuration is the same. It returns what it
// opened and closed, and an error naming each address that could not
// be opened.
//
// An address that could not be opened is tried again when retry is
// true (the reload was asked for: SIGHUP) or the [smtp] table changed;
// otherwise (a reload for a changed .forward, say) it is left as it
// is, and not reported again: its error was, when it failed.
func (svc *Service) Reconfigure(cfg *config.Config, retry bool) (opened, closed []string, err error) {
	svc.mu.Lock()
	defer svc.mu.Unlock()
	retry = retry || !reflect.DeepEqual(cfg.SMTP, svc.cfg.SMTP)
	if reflect.DeepEqual(cfg, svc.cfg) && (!svc.failed || !retry) {
		// A secret file removed is made anew, with a new secret.
		return nil, nil, svc.ensureSecret(cfg)
	}
	svc.cfg = cfg
	// Servers of configurations before that serve no socket and no
	// session any more are dropped (the current one serves the sockets
	// kept until they are handed over below).
	svc.servers = slices.DeleteFunc(svc.servers, func(s *Server) bool { return s != svc.cur && s.idle() })
	// Every setting but the addresses is the server's: a new one serves
	// the sockets kept from now on.
	svc.cur = New(cfg, svc.log)
	svc.servers = append(svc.servers, svc.cur)
	for _, hs := range append([][]*handoff{svc.passed}, slices.Collect(maps.Values(svc.own))...) {
		for i, h := range hs {
			if l, ok := h.detach(); ok {
				hs[i] = svc.serve(l)
			}
		}
	}
	opened, err = svc.open(cfg, retry)
	// The addresses no longer named are closed once those named anew
	// are open: a port taken by another program keeps the old one
	// open (programs set to it still reach the agent) rather than
	// leave none, until a reload opens the new one. A reload asked for
	// after such a failure tries again even if the file did not
	// change.
	svc.failed = err != nil || len(svc.failing) > 0
	keep := map[string]bool{}
	for _, k := range svc.wanted(cfg) {
		keep[k] = true
	}
	var kept []string
	for k, hs := range svc.own {
		if keep[k] {
			continue
		}
		for _, h := range hs {
			where := h.Listener.Addr().Network() + ":" + h.Listener.Addr().String()
			if svc.failed {
				kept = append(kept, where)
				continue
			}
			closed = append(closed, where)
			h.Close()
		}
		if !svc.failed {
			delete(svc.own, k)
		}
	}
	if len(kept) > 0 && err != nil {
		slices.Sort(kept)
		err = fmt.Errorf("%w; still listening on %s, which the configuration no longer names, until what it names can be opened (reload to try again: kill -HUP the agent)", err, strings.Join(kept, ", "))
	}
	return opened, closed, err
}

// Stop closes every socket, lets sessions finish for a few seconds,
// then closes the rest.
func (svc *Service) Stop() {
	svc.mu.Lock()
	servers := svc.servers
	svc.mu.Unlock()
	var wg sync.WaitGroup
	for _, s := range servers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s.Close(5 * time.Second)
		}()
	}
	wg.Wait()
	// Sockets handed to a later server are closed by it; one that
	// could not be handed over stays with the server it was first
	// given to.
}

// handoff is a listening socket as one server sees it: detach takes it
// from that server without closing it, for the next configuration's
// server to serve.
type handoff struct {
	net.Listener
	detached atomic.Bool
	done     chan struct{} // the server's Serve has returned
}

// Accept is the socket's, until it is detached: then the server is
// told that its listener is closed.
func (h *handoff) Accept() (net.Conn, error) {
	c, err := h.Listener.Accept()
	if err != nil && h.detached.Load() {
		return nil, net.ErrClosed
	}
	return c, err
}

// Close closes the socket, unless another server serves it now.
func (h *handoff) Close() error {
	if h.detached.Load() {
		return nil
	}
	return h.Listener.Close()
}

// detach stops the server's accepting on the socket (a deadline in the
// past wakes its Accept) and returns the socket, open; ok is false
// where the socket has no deadline, and the server keeps it.
func (h *handoff) detach() (net.Listener, bool) {
	d, ok := h.Listener.(interface{ SetDeadline(time.Time) error })
	if !ok {
		return nil, false
	}
	h.detached.Store(true)
	if err := d.SetDeadline(time.Unix(1, 0)); err != nil {
		h.detached.Store(false)
		return nil, false
	}
	<-h.done
	d.SetDeadline(time.Time{})
	return h.Listener, true
}
