package maildir

import (
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// PendingRecord is a complete record of an mbox rewrite that a crash
// stopped and no program has finished yet: the mbox may be torn from
// Off on, and the next homepost program that locks it finishes the
// rewrite (see Locked.recover). It is what a diagnosis reads of the
// record, without locking, applying or moving anything.
type PendingRecord struct {
	Path string // the record
	// Mbox is the path of the mbox a record kept beside its mbox was
	// made for, from the record's name; "" for a record in a state
	// directory, which is named by Dev and Ino only.
	Mbox string
	// Dev and Ino identify the file the rewrite was made for (see
	// FileID), as the record's header gives them: when the file at
	// Mbox has others, it was replaced or removed since.
	Dev, Ino uint64
	// Off, New, Old: the rewrite writes the mbox over from byte Off,
	// and makes it New bytes long; it was Old bytes long before.
	Off, New, Old int64
}

// PendingRecords lists the complete records of rewrites beside any mbox
// in the directories dirs and in the state directories where records
// are kept (recordDirs), in that order, each once. It only reads: the
// records are opened read-only, nothing is locked, applied, removed or
// set aside.
//
// A record is listed when the next Lock would take it for one (see
// openRecord) and its header is whole and gives the record's size. The
// sums of its new contents and of its table are not checked, which
// would cost a read of the whole record, as big as the part of the mbox
// it rewrites: the header is written after them, so only a power loss
// that kept the header and not all of them makes a record listed here
// that the next Lock discards. Records set aside are listed by SetAside.
func PendingRecords(dirs []string) []PendingRecord {
	var found []PendingRecord
	seen := map[string]bool{}
	add := func(name, mbox string) {
		if seen[name] {
			return
		}
		seen[name] = true
		if r := completeHeader(name); r != nil {
			found = append(found, PendingRecord{Path: name, Mbox: mbox,
				Dev: r.Dev, Ino: r.Ino, Off: r.Off, New: r.New, Old: r.Old})
		}
	}
	for _, d := range dirs {
		names, _ := filepath.Glob(filepath.Join(d, ".*"+recordSuffix))
		for _, n := range names {
			base := filepath.Base(n)
			add(n, filepath.Join(d, strings.TrimSuffix(base[1:], recordSuffix)))
		}
	}
	for _, d := range recordDirs() {
		ents, _ := os.ReadDir(d)
		for _, e := range ents {
			if isStateRecordName(e.Name()) {
				add(filepath.Join(d, e.Name()), "")
			}
		}
	}
	return found
}

// isStateRecordName reports whether name is that of a record in a state
// directory (FSID-INO, see recordInState), not one set aside
// (.unapplied) nor one being replaced (.new).
func isStateRecordName(name string) bool {
	dev, ino, ok := strings.Cut(name, "-")
	if !ok {
		return false
	}
	_, err1 := strconv.ParseUint(dev, 10, 64)
	_, err2 := strconv.ParseUint(ino, 10, 64)
	return err1 == nil && err2 == nil
}

// completeHeader returns the header of the record at name when the next
// Lock would take the file for a record and the header is complete and
// gives its size; nil otherwise (see PendingRecords).
func completeHeader(name string) *record {
	f, err := openRecord(name)
	if err != nil || f == nil {
		return nil
	}
	defer f.Close()
	r, _ := readHeader(f)
	return r
}

// readHeader reads and checks a record's header and the record's size;
// nil, nil when the record is not complete. The sums of the new
// contents and of the table are readRecord's to check.
func readHeader(rf *os.File) (*record, error) {
	h := make([]byte, recordHeader)
	if _, err := io.ReadFull(io.NewSectionReader(rf, 0, recordHeader), h); err != nil {
		return nil, nil
	}
	r, err := decodeRecord(h)
	if err != nil {
		return nil, nil
	}
	st, err := rf.Stat()
	if err != nil {
		return nil, err
	}
	if st.Size() != r.size() {
		return nil, nil
	}
	return r, nil
}
