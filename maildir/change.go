package maildir

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	gomaildir "github.com/emersion/go-maildir"

	"homepost/safeio"
)

// Flag is a Maildir info flag ('S' seen, 'R' replied, …): go-maildir's
// type, so that its constants name them.
type Flag = gomaildir.Flag

// The flags a mail reader sets.
const (
	FlagSeen    = gomaildir.FlagSeen
	FlagReplied = gomaildir.FlagReplied
	FlagTrashed = gomaildir.FlagTrashed
)

// AddFlag adds a flag to an info part, keeping the flags in ASCII order
// as the Maildir spec asks.
func AddFlag(info string, f Flag) string {
	if strings.ContainsRune(info, rune(f)) {
		return info
	}
	b := []byte(info + string(f))
	for i := len(b) - 1; i > 0 && b[i] < b[i-1]; i-- {
		b[i], b[i-1] = b[i-1], b[i]
	}
	return string(b)
}

// DropFlag removes a flag from an info part.
func DropFlag(info string, f Flag) string {
	return strings.ReplaceAll(info, string(f), "")
}

// Find looks for the message whose key is key after another program
// renamed it (moved it to cur/, changed its flags in cur/ or within
// new/): the file in new/ or cur/ whose unique part, up to the first
// colon, is key, as mutt finds a message again when it syncs. It costs
// a stat, then one read of both directories: a reader with more than
// one message to find uses Index.
func (d Dir) Find(key string) (Entry, bool) {
	if key == "" || strings.ContainsAny(key, "/:") {
		return Entry{}, false
	}
	if _, err := os.Stat(filepath.Join(string(d), "new", key)); err == nil {
		return Entry{File: key, New: true}, true
	}
	idx, err := d.Index()
	if err != nil {
		return Entry{}, false
	}
	e, ok := idx[key]
	return e, ok
}

// SetInfo moves a message to cur/ under its key with the info flags
// info (sorted, each once, as the Maildir spec writes them), and
// returns where it is now. The caller fsyncs with SyncDirs.
func (d Dir) SetInfo(e Entry, info string) (Entry, error) {
	to := Entry{File: e.Key() + ":2," + sortFlags(info)}
	if to == e {
		return e, nil
	}
	if err := os.Rename(d.Path(e), d.Path(to)); err != nil {
		return e, err
	}
	return to, nil
}

// sortFlags sorts the flags of an info part in ASCII order and drops
// repeats.
func sortFlags(info string) string {
	b := []byte(info)
	slices.Sort(b)
	return string(slices.Compact(b))
}

// Remove unlinks a message. The caller fsyncs with SyncDirs.
func (d Dir) Remove(e Entry) error { return os.Remove(d.Path(e)) }

// SyncDirs makes renames and removals in new/ and cur/ durable.
func (d Dir) SyncDirs() error {
	var errs []error
	for _, sub := range []string{"cur", "new"} {
		if err := safeio.SyncDir(filepath.Join(string(d), sub)); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// Replace gives a message new contents the way a delivery stores a
// message: written in tmp/ under a unique name, fsynced, then renamed
// over the old name, so that any reader sees the old message or the new
// one, never half of either. The name, and so the flags, stay; the file
// keeps its mode and modification time (the arrival time other readers
// show). The caller fsyncs with SyncDirs.
func (d Dir) Replace(e Entry, data []byte) error {
	path := d.Path(e)
	st, err := os.Stat(path)
	if err != nil {
		return err
	}
	tmp := filepath.Join(string(d), "tmp", UniqueName())
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, st.Mode().Perm())
	if err != nil {
		return fmt.Errorf("save the edited text: %w", err)
	}
	ok := false
	defer func() {
		if !ok {
			f.Close()
			os.Remove(tmp)
		}
	}()
	if _, err := f.Write(data); err != nil {
		return fmt.Errorf("write %s: %w", tmp, err)
	}
	if err := f.Sync(); err != nil {
		return fmt.Errorf("sync %s: %w", tmp, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("close %s: %w", tmp, err)
	}
	// Best effort: a reader that dates a message by its file still
	// shows when it arrived, not when it was changed.
	os.Chtimes(tmp, time.Time{}, st.ModTime())
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("save the edited text: %w", err)
	}
	ok = true
	return nil
}

// Store delivers a copy under a new unique name and makes it durable at
// once (Deliver, then Sync): for a single copy, such as a reader saving
// a message into a Maildir folder.
func (d Dir) Store(data []byte) error {
	if err := d.Deliver(UniqueName(), data, bytes.NewReader(nil)); err != nil {
		return err
	}
	return d.Sync()
}

var nameSeq atomic.Int64

// UniqueName is a Maildir file name no other writer uses: the time,
// microseconds, pid and a counter, and the host name.
func UniqueName() string {
	host, _ := os.Hostname()
	host = strings.NewReplacer("/", `\057`, ":", `\072`).Replace(host)
	now := time.Now()
	return strconv.FormatInt(now.Unix(), 10) + ".M" + strconv.FormatInt(int64(now.Nanosecond()/1000), 10) +
		"P" + strconv.Itoa(os.Getpid()) + "Q" + strconv.FormatInt(nameSeq.Add(1), 10) + "." + host
}

// AppendTo stores one copy in the mailbox at path: into a Maildir
// (IsMaildir) under a new unique name, durable at once, else at the end
// of an mbox (Mbox.Append) with sender and t on its "From " line.
func AppendTo(path, sender string, t time.Time, header, body []byte) error {
	if IsMaildir(path) {
		return Dir(path).Store(append(bytes.Clone(header), body...))
	}
	return Mbox(path).Append(sender, t, header, bytes.NewReader(body))
}
