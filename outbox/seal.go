package outbox

import (
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"hash/fnv"
	"io"
	"os"

	"homepost/safeio"
)

// Sealed queue files.
//
// A queue file is made durable in two steps: fsync the file, rename it
// into new/, fsync new/ — two flushes of the disk's cache, one after the
// other, because after a power loss a name made durable before its data
// could point at blocks never written. sendmail keeps that order, as
// the Maildir spec asks.
//
// The agent's SMTP listener seals its queue files instead: the envelope
// carries a "seal" line, a 64-bit FNV-1a hash of the queue ID, the
// envelope as first written (its size and seal digits zero) and the
// message. (FNV rather than a CRC: package hash/crc32 builds a table
// when any program that links it starts, and the small sendmail links
// this package and never seals.) A sealed file is renamed into new/
// first, then the file and its name are made durable together (Sealer:
// one syncfs, one flush), and only then is the message acknowledged
// with a 250. A power loss in between may leave
// the name without the data: the file in new/ then holds zeros, or an
// older message's bytes (a spare's, or a freed block's, whose own seal
// names another queue ID), and its seal does not match. Such a file was
// never acknowledged; the agent sets it aside (corrupt/, with a log line)
// and sends nothing of it. A whole file always matches its seal, durable
// or not yet: the agent may take it up the moment it is renamed.
//
// The seal is checked whenever the agent opens a queue file to deliver
// or change it (OpenLocked); listing the queue does not read messages.

// sealDigits is the length of the seal's hex digits.
const sealDigits = 16

// ErrTorn is returned for a sealed queue file whose content does not
// match its seal: a power loss took blocks written before its sync.
var ErrTorn = errors.New("sealed queue file does not match its seal (cut off by a power loss before it was acknowledged)")

// A Sealer makes a sealed queue file and its name in dir durable
// together, after the rename (see above). It may return nil only once
// both are durable, by syncs that began after the call.
type Sealer interface {
	SyncSealed(f *os.File, dir string) error
}

// newSeal starts the seal of a queue file: its ID, then the envelope as
// written first.
func newSeal(id string, hdr []byte) hash.Hash64 {
	h := fnv.New64a()
	io.WriteString(h, id)
	h.Write([]byte{'\n'})
	h.Write(hdr)
	return h
}

// appendSeal formats a seal's digits.
func appendSeal(b []byte, sum uint64) []byte {
	return hex.AppendEncode(b, binary.BigEndian.AppendUint64(nil, sum))
}

// parseSeal reads a seal's digits.
func parseSeal(s string) (uint64, error) {
	if len(s) != sealDigits {
		return 0, fmt.Errorf("bad seal %q", s)
	}
	b, err := hex.DecodeString(s)
	if err != nil {
		return 0, fmt.Errorf("bad seal %q", s)
	}
	return binary.BigEndian.Uint64(b), nil
}

// checkSeal reads the envelope (hlen bytes) and the message (size
// bytes) of a sealed file and compares them with its seal.
func checkSeal(f io.ReaderAt, id string, h *header) error {
	hdr := make([]byte, h.len)
	if _, err := f.ReadAt(hdr, 0); err != nil {
		return fmt.Errorf("read queue file: %w", err)
	}
	// The envelope as first written: size and seal digits zero.
	for i := range sizeDigits {
		hdr[h.sizeOff+int64(i)] = '0'
	}
	for i := range sealDigits {
		hdr[h.sealOff+int64(i)] = '0'
	}
	sum := newSeal(id, hdr)
	if _, err := safeio.Copy(sum, io.NewSectionReader(f, h.len, h.size)); err != nil {
		return fmt.Errorf("read queue file: %w", err)
	}
	if sum.Sum64() != h.seal {
		return ErrTorn
	}
	return nil
}
