package safeio

import "io/fs"

// TypeName names the type of a file as a user would ("a directory",
// "a FIFO"), for a message that refuses a file for not
// being a regular one. fs.FileMode's String of the type bits alone
// ("d---------") reads as a mode of 000.
func TypeName(m fs.FileMode) string {
	switch m.Type() {
	case 0:
		return "a regular file"
	case fs.ModeDir:
		return "a directory"
	case fs.ModeSymlink:
		return "a symbolic link"
	case fs.ModeNamedPipe:
		return "a FIFO"
	case fs.ModeSocket:
		return "a socket"
	case fs.ModeDevice | fs.ModeCharDevice:
		return "a character device"
	case fs.ModeDevice:
		return "a block device"
	}
	return "a file of an unusual type (" + m.Type().String() + ")"
}
