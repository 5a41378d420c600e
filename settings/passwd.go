// Copyright 2016 The Go Authors. All rights reserved.
// Use of this source code is governed by a BSD-style
// license that can be found in the LICENSE file.

package settings

import (
	"bufio"
	"bytes"
	"io"
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// The password entry of the invoking user, read as package os/user reads
// it in homepost's pure-Go build (the osusergo tag): readColonFile and
// matchUserIndexValue below are os/user's (lookup_unix.go, Go 1.26),
// lookupUID is its LookupId with Current's fallback to $USER and $HOME.
// os/user opens /etc/passwd with os.Open, which sets up the runtime's
// poller for a plain file; sendmail starts once per message.

// userFile is the password database; a variable for tests.
var userFile = "/etc/passwd"

// lookupUID returns the login name, home directory and GECOS full name
// of uid, as os/user.LookupId does; ok is false when it fails.
func lookupUID(uid int) (login, home, name string, ok bool) {
	if u := findUserID(userFile, strconv.Itoa(uid)); u != nil {
		return u.login, u.home, u.name, true
	}
	// os/user.Current, which LookupId asks first, falls back to the
	// environment when the database has no entry.
	login, home = os.Getenv("USER"), os.Getenv("HOME")
	if login != "" && home != "" {
		return login, home, "", true
	}
	if u := getentUID(uid); u != nil {
		return u.login, u.home, u.name, true
	}
	return "", "", "", false
}

// getent is the program that reads the whole password database, with
// its other sources (sss, ldap, winbind, nis); a variable for tests.
var getent = "getent"

// getentUID asks getent(1) for uid's entry, for a user the password file
// does not hold (an LDAP or sssd user) and whose environment does not
// say who they are: atd runs a job's mailer with neither USER nor HOME
// set, and sendmail could not tell who sent the job's output (exit 78,
// and atd drops the output). It costs a process, and only then. It is
// started with os.StartProcess, not os/exec, which the sendmail program
// does not link otherwise: it starts once per message.
func getentUID(uid int) *passwdEntry {
	path := lookGetent()
	if path == "" {
		return nil
	}
	r, w, err := os.Pipe()
	if err != nil {
		return nil
	}
	defer r.Close()
	p, err := os.StartProcess(path, []string{getent, "passwd", strconv.Itoa(uid)}, &os.ProcAttr{Files: []*os.File{nil, w, nil}})
	w.Close()
	if err != nil {
		return nil
	}
	// An entry is one line; a lookup that hangs (a directory server
	// that does not answer) is given up.
	r.SetReadDeadline(time.Now().Add(10 * time.Second))
	out, rerr := io.ReadAll(io.LimitReader(r, 64<<10))
	if rerr != nil {
		p.Kill()
	}
	st, err := p.Wait()
	if rerr != nil || err != nil || !st.Success() {
		return nil
	}
	// One line: login:password:uid:gid:gecos:home:shell
	line := strings.TrimSuffix(string(out), "\n")
	f := strings.Split(line, ":")
	if strings.Contains(line, "\n") || len(f) != 7 || f[0] == "" || f[2] != strconv.Itoa(uid) {
		return nil
	}
	return &passwdEntry{login: f[0], home: f[5], name: f[4]}
}

// lookGetent finds getent on the PATH, else in the system's directories
// (atd's environment has no PATH); "" when it is nowhere.
func lookGetent() string {
	if strings.Contains(getent, "/") {
		return getent
	}
	dirs := append(strings.Split(os.Getenv("PATH"), ":"), "/usr/bin", "/bin")
	for _, d := range dirs {
		if !strings.HasPrefix(d, "/") {
			continue // "" or relative: the current directory is no place to run a program from
		}
		p := d + "/" + getent
		if st, err := os.Stat(p); err == nil && st.Mode().IsRegular() && st.Mode().Perm()&0o111 != 0 {
			return p
		}
	}
	return ""
}

type passwdEntry struct{ login, home, name string }

func findUserID(file, uid string) *passwdEntry {
	fd, err := syscall.Open(file, syscall.O_RDONLY|syscall.O_CLOEXEC, 0)
	for err == syscall.EINTR {
		fd, err = syscall.Open(file, syscall.O_RDONLY|syscall.O_CLOEXEC, 0)
	}
	if err != nil {
		return nil
	}
	defer syscall.Close(fd)
	v, _ := readColonFile(fdReader(fd), matchUserIndexValue(uid, 2), 6)
	u, _ := v.(*passwdEntry)
	return u
}

// fdReader reads a descriptor with read(2).
type fdReader int

func (fd fdReader) Read(p []byte) (int, error) {
	for {
		n, err := syscall.Read(int(fd), p)
		if err == syscall.EINTR {
			continue
		}
		if err != nil {
			return 0, err
		}
		if n == 0 && len(p) > 0 {
			return 0, io.EOF
		}
		return n, nil
	}
}

// lineFunc returns a value, an error, or (nil, nil) to skip the row.
type lineFunc func(line []byte) (v any, err error)

// readColonFile parses r as an /etc/group or /etc/passwd style file, running
// fn for each row. readColonFile returns a value, an error, or (nil, nil) if
// the end of the file is reached without a match.
//
// readCols is the minimum number of colon-separated fields that will be passed
// to fn; in a long line additional fields may be silently discarded.
func readColonFile(r io.Reader, fn lineFunc, readCols int) (v any, err error) {
	rd := bufio.NewReader(r)

	// Read the file line-by-line.
	for {
		var isPrefix bool
		var wholeLine []byte

		// Read the next line. We do so in chunks (as much as reader's
		// buffer is able to keep), check if we read enough columns
		// already on each step and store final result in wholeLine.
		for {
			var line []byte
			line, isPrefix, err = rd.ReadLine()

			if err != nil {
				// We should return (nil, nil) if EOF is reached
				// without a match.
				if err == io.EOF {
					err = nil
				}
				return nil, err
			}

			// Simple common case: line is short enough to fit in a
			// single reader's buffer.
			if !isPrefix && len(wholeLine) == 0 {
				wholeLine = line
				break
			}

			wholeLine = append(wholeLine, line...)

			// Check if we read the whole line (or enough columns)
			// already.
			if !isPrefix || bytes.Count(wholeLine, []byte{':'}) >= readCols {
				break
			}
		}

		// There's no spec for /etc/passwd or /etc/group, but we try to follow
		// the same rules as the glibc parser, which allows comments and blank
		// space at the beginning of a line.
		wholeLine = bytes.TrimSpace(wholeLine)
		if len(wholeLine) == 0 || wholeLine[0] == '#' {
			continue
		}
		v, err = fn(wholeLine)
		if v != nil || err != nil {
			return
		}

		// If necessary, skip the rest of the line
		for ; isPrefix; _, isPrefix, err = rd.ReadLine() {
			if err != nil {
				// We should return (nil, nil) if EOF is reached without a match.
				if err == io.EOF {
					err = nil
				}
				return nil, err
			}
		}
	}
}

var colon = []byte{':'}

func matchUserIndexValue(value string, idx int) lineFunc {
	var leadColon string
	if idx > 0 {
		leadColon = ":"
	}
	substr := []byte(leadColon + value + ":")
	return func(line []byte) (v any, err error) {
		if !bytes.Contains(line, substr) || bytes.Count(line, colon) < 6 {
			return
		}
		// kevin:x:1005:1006::/home/kevin:/usr/bin/zsh
		parts := strings.SplitN(string(line), ":", 7)
		if len(parts) < 6 || parts[idx] != value || parts[0] == "" ||
			parts[0][0] == '+' || parts[0][0] == '-' {
			return
		}
		if _, err := strconv.Atoi(parts[2]); err != nil {
			return nil, nil
		}
		if _, err := strconv.Atoi(parts[3]); err != nil {
			return nil, nil
		}
		u := &passwdEntry{login: parts[0], name: parts[4], home: parts[5]}
		// The pw_gecos field isn't quite standardized. Some docs
		// say: "It is expected to be a comma separated list of
		// personal data where the first item is the full name of the
		// user."
		u.name, _, _ = strings.Cut(u.name, ",")
		return u, nil
	}
}
