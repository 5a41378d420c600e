package settings

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"reflect"
	"syscall"
	"unicode/utf8"
)

// ErrNotSimple means that the config file holds something Read leaves to
// package config: TOML beyond the subset below, a key it does not know,
// a value it would refuse, or no file where HOMEPOST_CONFIG names one.
// The caller loads the file with package config, which reads all of TOML
// and says what is wrong, where.
var ErrNotSimple = errors.New("the config file needs the full TOML parser")

// Read loads the configuration as config.Load does, for the files that
// most users write. It returns the defaults when there is no file; it
// returns ErrNotSimple for a file it does not fully understand, and
// otherwise exactly what config.Load returns for that file (a fuzz test
// in package config holds the two to that).
//
// The subset: lines that are empty, a comment, a table header
// "[relay]" or "[smtp]", or "key = value" with a bare key that the
// Config type names (its toml tags) and a value that is a string in
// double quotes without escapes, a string in single quotes, true,
// false, or a decimal integer; each may end in a comment.
func Read() (*Config, error) {
	id, err := CurrentUser()
	if err != nil {
		return nil, err
	}
	path := DefaultPath(id.Home())
	c, err := ReadFile(path, id)
	if errors.Is(err, os.ErrNotExist) && os.Getenv("HOMEPOST_CONFIG") == "" {
		c = Defaults(id)
		if c.CheckQueue() != nil {
			return nil, ErrNotSimple // config says what is wrong
		}
		return c, nil
	}
	return c, err
}

// ReadFile is Read for one file and identity. A missing file is an
// error satisfying errors.Is(err, os.ErrNotExist); one behind a symbolic
// link to nothing (DanglingLink) is not missing but unknown, and left
// to package config, which says so.
func ReadFile(path string, id Identity) (*Config, error) {
	// One checker for the file's directories and the queue's, which
	// share HOME and those above it: each is examined once.
	return readFileWith(path, id, newPathChecker(id.uid, id.user))
}

func readFileWith(path string, id Identity, pc *pathChecker) (*Config, error) {
	data, st, err := readConfig(path, id, pc)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			if link, _ := DanglingLink(path); link == "" {
				return nil, err
			}
		}
		return nil, ErrNotSimple
	}
	// A UTF-8 byte order mark is no part of the first line, as for
	// the TOML parser.
	if len(data) >= 3 && data[0] == 0xef && data[1] == 0xbb && data[2] == 0xbf {
		data = data[3:]
	}
	c := Base()
	defined, ok := decode(data, c)
	if !ok {
		return nil, ErrNotSimple
	}
	c.File = path
	c.Finish(id)
	if c.Validate() != nil || contains(defined, "hostname") && CheckHostname(c.Hostname) != nil {
		return nil, ErrNotSimple
	}
	if c.checkQueue(pc) != nil {
		return nil, ErrNotSimple
	}
	if c.Relay.Password != "" && !contains(defined, "relay.password_command") {
		// config refuses a password in a file others can read (the
		// file that was read: its descriptor's status).
		if st.Mode&0o077 != 0 {
			return nil, ErrNotSimple
		}
	}
	return c, nil
}

// readFile reads a file through plain system calls: os.Open would put
// the descriptor through the runtime's poller (several fcntl calls and
// an epoll_ctl that fails for a regular file), which sendmail pays for
// on every start.
func readFile(path string) ([]byte, error) {
	data, _, err := readFileStat(path)
	return data, err
}

// notRegular is readFileStat's error for a file that is no regular
// file: a FIFO, a device, a directory, a socket.
type notRegular struct {
	path string
	kind string // "a FIFO", "a directory"
}

func (e *notRegular) Error() string { return fmt.Sprintf("%s is %s, not a file", e.path, e.kind) }

// readFileStat is readFile, also returning the file's status as
// fstat(2) gave it for the descriptor that was read. Only a regular
// file is read: it is opened with O_NONBLOCK, so that a FIFO (made by
// mistake, or a secrets tool's pipe) does not block the opener until a
// writer comes, which for sendmail under cron is for ever; a device is
// not read either.
func readFileStat(path string) ([]byte, *syscall.Stat_t, error) {
	const flags = syscall.O_RDONLY | syscall.O_CLOEXEC | syscall.O_NONBLOCK | syscall.O_NOCTTY
	fd, err := syscall.Open(path, flags, 0)
	for err == syscall.EINTR {
		fd, err = syscall.Open(path, flags, 0)
	}
	if err != nil {
		return nil, nil, &os.PathError{Op: "open", Path: path, Err: err}
	}
	defer syscall.Close(fd)
	var st syscall.Stat_t
	if err := syscall.Fstat(fd, &st); err != nil {
		return nil, nil, &os.PathError{Op: "stat", Path: path, Err: err}
	}
	if st.Mode&syscall.S_IFMT != syscall.S_IFREG {
		return nil, &st, &notRegular{path: path, kind: fileKind(st.Mode)}
	}
	buf := make([]byte, 0, st.Size+1)
	for {
		if len(buf) == cap(buf) {
			buf = append(buf, 0)[:len(buf)]
		}
		n, err := syscall.Read(fd, buf[len(buf):cap(buf)])
		if err == syscall.EINTR {
			continue
		}
		if err != nil {
			return nil, &st, &os.PathError{Op: "read", Path: path, Err: err}
		}
		if n == 0 {
			return buf, &st, nil
		}
		buf = buf[:len(buf)+n]
	}
}

// fileKind names a file type as a user would.
func fileKind(mode uint32) string {
	switch mode & syscall.S_IFMT {
	case syscall.S_IFDIR:
		return "a directory"
	case syscall.S_IFIFO:
		return "a FIFO (a named pipe)"
	case syscall.S_IFCHR, syscall.S_IFBLK:
		return "a device"
	case syscall.S_IFSOCK:
		return "a socket"
	}
	return "not a regular file"
}

// ReadConfig reads the configuration file at path for id, and refuses
// one that must not be obeyed: a file that is not a regular file, and
// one that others than the user (and root) could change, or that lies
// in a directory they could change (UnsafeFile, UnsafeDirs): such a
// file's exec: relay would run what another user wrote, as the user.
// A missing file is an *os.PathError satisfying os.ErrNotExist; one
// that cannot be opened an *os.PathError; a refused one an *Error (its
// Unsafe set when others could change it).
func ReadConfig(path string, id Identity) ([]byte, error) {
	data, _, err := readConfig(path, id, newPathChecker(id.uid, id.user))
	return data, err
}

// readConfig is ReadConfig, also returning the status of the file read
// (fstat(2) of its descriptor), with a checker that the caller shares
// with the queue's checks.
func readConfig(path string, id Identity, pc *pathChecker) ([]byte, *syscall.Stat_t, error) {
	// A device is not even opened (opening one can act: a tape
	// rewinds); the descriptor's own status is checked again below,
	// for a file replaced in between. The lstat(2) is the one that
	// the check of the file's directories asks for a symbolic link;
	// only a link is followed by a stat(2) of its own.
	var pre syscall.Stat_t
	err := pc.stat(path, &pre)
	if err == nil && pre.Mode&syscall.S_IFMT != syscall.S_IFREG {
		err = &notRegular{path: path, kind: fileKind(pre.Mode)}
	} else {
		err = nil
	}
	var data []byte
	var st *syscall.Stat_t
	if err == nil {
		data, st, err = readFileStat(path)
	}
	var nr *notRegular
	if errors.As(err, &nr) {
		return nil, nil, &Error{File: path, Msg: fmt.Sprintf("the file is %s, not a regular file: homepost reads only a regular file here (remove it to use the defaults)", nr.kind)}
	}
	if err != nil {
		return nil, nil, err
	}
	perm := fs.FileMode(st.Mode & 0o777)
	group := perm&0o020 != 0 && PrivateGroup(int(st.Gid), id.uid, id.user)
	if why := unsafeMode(int(st.Uid), id.uid, perm, group, false); why != "" {
		return nil, nil, &Error{File: path, Unsafe: true, Msg: fmt.Sprintf("the file is %s: another user could change where your mail goes, or make homepost run a command as you (an exec: relay), so it is not obeyed; %s",
			why, fixFor(path, why, id.user, id.uid, true))}
	}
	if u := pc.unsafeDirs(path); u != nil {
		return nil, nil, &Error{File: path, Unsafe: true, Msg: u.OnPath()}
	}
	return data, st, nil
}

// The types that take a string (or, Size, an integer) and parse it.
var (
	durationType = reflect.TypeFor[Duration]()
	sizeType     = reflect.TypeFor[Size]()
)

// field finds the Config field that a key names by its toml tag (in
// table, when table is not ""): the tags are the one list of key names.
// It is a plain search, without maps or method values, which would cost
// sendmail allocations and page faults for a file of a few lines.
func field(v reflect.Value, table, key string) (reflect.Value, bool) {
	if table != "" {
		t, ok := field(v, "", table)
		if !ok || !isTable(t) {
			return reflect.Value{}, false
		}
		v = t
	}
	t := v.Type()
	for i := range t.NumField() {
		if tag := t.Field(i).Tag.Get("toml"); tag == key && tag != "-" {
			return v.Field(i), true
		}
	}
	return reflect.Value{}, false
}

// isTable reports whether a field is a TOML table, not a value.
func isTable(f reflect.Value) bool {
	return f.Kind() == reflect.Struct && f.Type() != durationType
}

// decode sets c's fields from data, or reports that data is not within
// Read's subset (ok false). defined holds the keys set ("relay.host" for
// a key in a table), a list rather than a map for the few keys of a
// file: see memo.
func decode(data []byte, c *Config) (defined []string, ok bool) {
	if !utf8.Valid(data) {
		return nil, false
	}
	v := reflect.ValueOf(c).Elem()
	var keys, tables []string
	table := ""
	for len(data) > 0 {
		var line []byte
		i := indexByte(data, '\n')
		if i >= 0 {
			line, data = data[:i], data[i+1:]
		} else {
			line, data = data, nil
		}
		// TOML ends a line with LF or CRLF: a CR is dropped only before
		// an LF; any other CR stays, and the line is not simple.
		if n := len(line); i >= 0 && n > 0 && line[n-1] == '\r' {
			line = line[:n-1]
		}
		s := string(trimSpace(line))
		if s == "" || s[0] == '#' {
			if !plainText(s) {
				return nil, false
			}
			continue
		}
		if s[0] == '[' {
			end := index(s, ']')
			if end < 0 || len(s) > 1 && s[1] == '[' || !restIsComment(s[end+1:]) {
				return nil, false
			}
			name := string(trimSpace([]byte(s[1:end])))
			t, known := field(v, "", name)
			if !bareKey(name) || !known || !isTable(t) || contains(tables, name) {
				return nil, false
			}
			tables, table = append(tables, name), name
			continue
		}
		eq := index(s, '=')
		if eq < 0 {
			return nil, false
		}
		key := string(trimSpace([]byte(s[:eq])))
		if !bareKey(key) {
			return nil, false
		}
		f, known := field(v, table, key)
		if table != "" {
			key = table + "." + key
		}
		if !known || isTable(f) || contains(keys, key) {
			return nil, false
		}
		keys = append(keys, key)
		if !set(f, string(trimSpace([]byte(s[eq+1:])))) {
			return nil, false
		}
	}
	return keys, true
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// set parses one value and stores it in f, the way the TOML decoder
// would; false when the value is outside the subset or of the wrong
// type.
func set(f reflect.Value, s string) bool {
	var str string
	var isStr bool
	var num int64
	var isNum bool
	var b, isBool bool
	switch {
	case s == "":
		return false
	case s[0] == '"' || s[0] == '\'':
		end := index(s[1:], s[0])
		if end < 0 || !restIsComment(s[end+2:]) {
			return false
		}
		str, isStr = s[1:end+1], true
		if !plainText(str) || s[0] == '"' && index(str, '\\') >= 0 {
			return false
		}
	case s[0] >= '0' && s[0] <= '9':
		i := 0
		for i < len(s) && s[i] >= '0' && s[i] <= '9' {
			num = num*10 + int64(s[i]-'0')
			i++
		}
		if i > 18 || i > 1 && s[0] == '0' || !restIsComment(s[i:]) {
			return false
		}
		isNum = true
	default:
		word := s
		if i := indexAny(s, " \t#"); i >= 0 {
			word = s[:i]
			if !restIsComment(s[i:]) {
				return false
			}
		}
		switch word {
		case "true":
			b, isBool = true, true
		case "false":
			b, isBool = false, true
		default:
			return false
		}
	}
	switch f.Type() {
	case sizeType:
		var sz Size
		switch {
		case isStr && sz.UnmarshalTOML(str) == nil, isNum && sz.UnmarshalTOML(num) == nil:
			f.SetInt(int64(sz))
			return true
		}
		return false
	case durationType:
		var d Duration
		if !isStr || d.UnmarshalText([]byte(str)) != nil {
			return false
		}
		f.Set(reflect.ValueOf(d))
		return true
	}
	switch f.Kind() {
	case reflect.String:
		if isStr {
			f.SetString(str)
		}
		return isStr
	case reflect.Bool:
		if isBool {
			f.SetBool(b)
		}
		return isBool
	case reflect.Int:
		if isNum {
			f.SetInt(num)
		}
		return isNum
	}
	return false
}

// restIsComment reports whether s, what follows a value, is only blanks
// and perhaps a comment.
func restIsComment(s string) bool {
	t := trimSpace([]byte(s))
	return len(t) == 0 || t[0] == '#' && plainText(string(t))
}

// plainText reports whether s holds no control character but tab, which
// TOML allows in neither strings nor comments.
func plainText(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 && c != '\t' || c == 0x7f {
			return false
		}
	}
	return true
}

func bareKey(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}

func trimSpace(b []byte) []byte {
	for len(b) > 0 && (b[0] == ' ' || b[0] == '\t') {
		b = b[1:]
	}
	for len(b) > 0 && (b[len(b)-1] == ' ' || b[len(b)-1] == '\t') {
		b = b[:len(b)-1]
	}
	return b
}

func indexByte(b []byte, c byte) int {
	for i, x := range b {
		if x == c {
			return i
		}
	}
	return -1
}

func indexAny(s, chars string) int {
	for i := 0; i < len(s); i++ {
		if index(chars, s[i]) >= 0 {
			return i
		}
	}
	return -1
}
