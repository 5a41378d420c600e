package main

import (
	"bufio"
	"bytes"
	"fmt"
	"net"
	"strings"
	"time"
)

// dialogue is how a client sends each message over its connection.
//
// Why three: what holds one connection below the disk's ceiling on a
// fast disk is the dialogue's round trips, not the disk. A client that
// waits for each reply (Python's smtplib, go-smtp's client, PHPMailer)
// makes four a message: MAIL, RCPT, DATA, the message. A client that uses
// PIPELINING (RFC 2920) as the MTAs do (Postfix's smtp client, Exim)
// sends MAIL, RCPT and DATA as one group and the message after the 354:
// two. One that also uses CHUNKING (RFC 3030), as Exim does, sends the
// message in the same group as BDAT LAST: one. Each still waits for the
// 250 of its message before it sends the next, so each message is
// durable before its 250 whatever the dialogue.
type dialogue int

const (
	lockStep   dialogue = iota // a reply awaited after every command
	pipelining                 // MAIL, RCPT, DATA in one group; the message after 354
	chunking                   // MAIL, RCPT, BDAT LAST and the message in one group
)

func (d dialogue) String() string {
	switch d {
	case pipelining:
		return "PIPELINING"
	case chunking:
		return "PIPELINING+CHUNKING"
	}
	return "a reply for each command"
}

// rawSession sends k messages over one connection with PIPELINING (and,
// for chunking, CHUNKING), each waiting for its 250, and returns the
// time from each message's first command to its 250. The server must
// offer the extensions it uses.
func (t *target) rawSession(msg []byte, k int, d dialogue) ([]time.Duration, error) {
	c, err := net.Dial("tcp", t.addr)
	if err != nil {
		return nil, err
	}
	defer c.Close()
	r := bufio.NewReader(c)
	if _, err := reply(r, "220"); err != nil {
		return nil, err
	}
	if _, err := fmt.Fprintf(c, "EHLO bench.example\r\n"); err != nil {
		return nil, err
	}
	ext, err := reply(r, "250")
	if err != nil {
		return nil, err
	}
	for _, e := range []string{"PIPELINING", "CHUNKING"} {
		if (e == "PIPELINING" || d == chunking) && !strings.Contains(ext, e) {
			return nil, fmt.Errorf("%s does not offer %s", t.addr, e)
		}
	}
	// The message as DATA sends it: lines starting with a dot doubled
	// (message() has none), its last line ended, and the end-of-data
	// line.
	data := append([]byte{}, msg...)
	if !bytes.HasSuffix(data, []byte("\r\n")) {
		data = append(data, "\r\n"...)
	}
	data = append(data, ".\r\n"...)
	head := fmt.Sprintf("MAIL FROM:<bench@example.org>\r\nRCPT TO:<%s>\r\n", t.rcpt)
	var group []byte
	switch d {
	case pipelining:
		group = []byte(head + "DATA\r\n")
	case chunking:
		group = append([]byte(head+fmt.Sprintf("BDAT %d LAST\r\n", len(msg))), msg...)
	}
	lat := make([]time.Duration, 0, k)
	for range k {
		t0 := time.Now()
		if _, err := c.Write(group); err != nil {
			return lat, err
		}
		for _, code := range []string{"250", "250"} {
			if _, err := reply(r, code); err != nil {
				return lat, err
			}
		}
		if d == pipelining {
			if _, err := reply(r, "354"); err != nil {
				return lat, err
			}
			if _, err := c.Write(data); err != nil {
				return lat, err
			}
		}
		if _, err := reply(r, "250"); err != nil {
			return lat, err
		}
		lat = append(lat, time.Since(t0))
	}
	fmt.Fprintf(c, "QUIT\r\n")
	reply(r, "221")
	return lat, nil
}

// reply reads one reply, all its lines, and returns its text; a code
// other than want is an error.
func reply(r *bufio.Reader, want string) (string, error) {
	var b strings.Builder
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			return b.String(), fmt.Errorf("reading a reply: %w", err)
		}
		b.WriteString(line)
		if len(line) < 4 || line[:3] != want {
			return b.String(), fmt.Errorf("want %s, got %q", want, strings.TrimSpace(b.String()))
		}
		if line[3] != '-' {
			return b.String(), nil
		}
	}
}

// offers returns the server's reply to EHLO ("" when it cannot be had).
func offers(addr string) string {
	c, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		return ""
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	r := bufio.NewReader(c)
	if _, err := reply(r, "220"); err != nil {
		return ""
	}
	fmt.Fprintf(c, "EHLO bench.example\r\n")
	ext, _ := reply(r, "250")
	fmt.Fprintf(c, "QUIT\r\n")
	return ext
}
