package safeio

import (
	"bytes"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// SyncBatch makes the data of every file in files and the names in every
// directory in dirs durable, as one fsync of each would, but shares the
// disk's work among them where it can (group commit).
//
// Why: each fsync writes its file's data, its inode and the allocation
// maps, then asks the disk to flush its cache; a batch of fifty Maildir
// copies fsynced one by one writes the same inode-table and bitmap
// blocks fifty times and waits for fifty flushes (issued side by side,
// eight at a time, they overlapped only in part on the disk measured:
// about twice as fast as one by one). One
// syncfs(2) of the file system that holds them all writes each dirty
// block once and flushes once: it is the same guarantee for every file
// and directory in the batch (syncfs writes back every dirty inode, data
// page and metadata block of that file system and waits for it).
//
// syncfs is used only where it is sound and cheap:
//   - every file and directory is on one file system (st_dev), of a
//     kind whose syncfs is known to make files durable (syncfsFS; on
//     ext2, ext3 and ext4 without a journal, with one more flush of
//     the disk after it: see flushLast);
//   - there are a file and at least one more file or directory to make
//     durable (one file alone takes its own fsync);
//   - the kernel reports writeback errors through syncfs (Linux 5.8 and
//     later; before, syncfs returned 0 after a failed write, and a copy
//     would be reported durable that is not);
//   - the system is not holding much data that other programs wrote and
//     that is not yet on disk: syncfs writes back everything dirty on
//     the file system, so a download being written in the same home
//     would be waited for. Above maxDirty of dirty or in-flight data
//     (/proc/meminfo, all file systems: the cautious reading), batches
//     use an fsync each, side by side. As a last guard, a syncfs that
//     takes longer than slowSyncfs (a file system whose syncfs is slow
//     for other reasons) turns syncfs off for quietFor.
//
// Otherwise each file and directory gets its own fsync, up to eight at
// a time. The first error is returned; on error nothing in the batch is
// known to be durable.
func SyncBatch(files []*os.File, dirs []string) error {
	if len(files) > 0 && len(files)+len(dirs) >= 2 && syncfsSound() {
		if fd, dev, ok := oneFileSystem(files, dirs); ok {
			return syncfs(fd, dev, files, dirs)
		}
	}
	return syncEach(files, dirs)
}

// maxDirty is the dirty and in-flight data (bytes) above which syncfs is
// not used: writing 64 MB takes a few tens of milliseconds on a solid
// state disk, about what fifty fsyncs cost on a slow one. A variable for
// the tests, which must not depend on what else the machine writes.
var maxDirty int64 = 64 << 20

// slowSyncfs is the syncfs time beyond which syncfs is turned off for
// quietFor.
const (
	slowSyncfs = time.Second
	quietFor   = 30 * time.Second
)

// syncfsOff holds the Unix nanoseconds until which syncfs is not used.
var syncfsOff atomic.Int64

var kernelOK = sync.OnceValue(func() bool {
	var u syscall.Utsname
	if syscall.Uname(&u) != nil {
		return false
	}
	var b []byte
	for _, c := range u.Release {
		if c == 0 {
			break
		}
		b = append(b, byte(c))
	}
	return releaseAtLeast(string(b), 5, 8)
})

// releaseAtLeast reports whether a kernel release string ("6.1.0-13-amd64")
// is at least major.minor.
func releaseAtLeast(rel string, major, minor int) bool {
	var nums [2]int
	i := 0
	for k := 0; k < 2; k++ {
		start := i
		for i < len(rel) && rel[i] >= '0' && rel[i] <= '9' {
			nums[k] = nums[k]*10 + int(rel[i]-'0')
			i++
		}
		if i == start {
			return false
		}
		if k == 0 {
			if i >= len(rel) || rel[i] != '.' {
				return false
			}
			i++
		}
	}
	return nums[0] > major || (nums[0] == major && nums[1] >= minor)
}

func syncfsSound() bool {
	now := time.Now().UnixNano()
	return kernelOK() && now >= syncfsOff.Load() && recentDirty(now) <= maxDirty
}

// dirtyFor is how long a reading of /proc/meminfo stands. The kernel
// computes the whole file at each read (it walks every block device,
// among others), which cost a listener's stream of messages about 3% of
// the agent's time when it was read for every sync; what the reading
// guards against, another program's large write, lasts far longer.
const dirtyFor = 50 * time.Millisecond

// lastDirty is the last reading of dirty and when it was taken (Unix
// nanoseconds, 0: never).
var lastDirty struct{ at, val atomic.Int64 }

// recentDirty is dirty, read again only when the last reading is older
// than dirtyFor.
func recentDirty(now int64) int64 {
	if at := lastDirty.at.Load(); at != 0 && now-at >= 0 && now-at < int64(dirtyFor) {
		return lastDirty.val.Load()
	}
	d := dirty()
	lastDirty.val.Store(d)
	lastDirty.at.Store(now)
	return d
}

// dirty returns the data written and not yet on disk, system-wide: the
// Dirty and Writeback lines of /proc/meminfo. Unknown counts as too much.
func dirty() int64 {
	f, err := OpenFile("/proc/meminfo", os.O_RDONLY, 0)
	if err != nil {
		return math.MaxInt64
	}
	defer f.Close()
	var buf [4096]byte
	n, _ := io.ReadFull(f, buf[:])
	return meminfoDirty(buf[:n])
}

// meminfoDirty sums the Dirty and Writeback lines ("Dirty:  2484 kB") of
// /proc/meminfo's text, in bytes; math.MaxInt64 when either is missing.
func meminfoDirty(b []byte) int64 {
	var sum int64
	found := 0
	for len(b) > 0 {
		line := b
		if i := bytes.IndexByte(b, '\n'); i >= 0 {
			line, b = b[:i], b[i+1:]
		} else {
			b = nil
		}
		name, rest, ok := bytes.Cut(line, []byte(":"))
		if !ok || !(string(name) == "Dirty" || string(name) == "Writeback") {
			continue
		}
		f := bytes.Fields(rest)
		if len(f) != 2 || string(f[1]) != "kB" {
			return math.MaxInt64
		}
		kb, err := strconv.ParseInt(string(f[0]), 10, 64)
		if err != nil {
			return math.MaxInt64
		}
		sum += kb << 10
		found++
	}
	if found != 2 {
		return math.MaxInt64
	}
	return sum
}

// oneFileSystem returns a descriptor to call syncfs on when every file
// and directory is on the same file system. The descriptor is one of
// the files: opened before the batch was written, so that syncfs
// reports a writeback error of any of them (the error is checked
// against what the file system had recorded when it was opened).
func oneFileSystem(files []*os.File, dirs []string) (int, uint64, bool) {
	if len(files) == 0 {
		return -1, 0, false
	}
	var dev uint64
	for i, f := range files {
		var st syscall.Stat_t
		if syscall.Fstat(int(f.Fd()), &st) != nil {
			return -1, 0, false
		}
		if i == 0 {
			dev = st.Dev
		} else if st.Dev != dev {
			return -1, 0, false
		}
	}
	for _, d := range dirs {
		var st syscall.Stat_t
		if syscall.Stat(d, &st) != nil || st.Dev != dev {
			return -1, 0, false
		}
	}
	if !syncfsDurable(int(files[0].Fd())) {
		return -1, 0, false
	}
	return int(files[0].Fd()), dev, true
}

// syncfsFS are the file systems whose syncfs makes every file durable:
// they implement sync_fs (a journal commit, a transaction, a cache
// flush). Elsewhere syncfs may return having written nothing to stable
// storage: eCryptfs and FUSE file systems without a sync_fs of their own
// (encrypted homes among them) write their dirty pages to the layer
// below and stop there, and an NFS mount's is not known to commit. An
// fsync, which every file system passes on, is used there.
//
// A switch, not a map: a package-level map is built by an initialiser at
// every start of every program that links the package, sendmail's
// included, asked or not.
func syncfsFS(magic int64) (name string, ok bool) {
	switch magic {
	case unix.EXT4_SUPER_MAGIC:
		return "ext4", true // ext2 and ext3 too
	case unix.XFS_SUPER_MAGIC:
		return "xfs", true
	case unix.BTRFS_SUPER_MAGIC:
		return "btrfs", true
	case unix.F2FS_SUPER_MAGIC:
		return "f2fs", true
	case unix.TMPFS_MAGIC:
		return "tmpfs", true // nothing to make durable
	case 0x2fc12fc1:
		return "zfs", true
	}
	return "", false
}

// InMemory names the file system that holds dir when it keeps its files
// in memory only (tmpfs, ramfs: /dev/shm, /run): nothing written there,
// fsynced or not, survives a reboot or a power loss. "" for any other,
// or when dir cannot be looked at.
func InMemory(dir string) string {
	var st unix.Statfs_t
	if unix.Statfs(dir, &st) != nil {
		return ""
	}
	switch int64(st.Type) {
	case unix.TMPFS_MAGIC:
		return "tmpfs"
	case unix.RAMFS_MAGIC:
		return "ramfs"
	}
	return ""
}

// syncfsDurable reports whether the file system of fd is one of
// syncfsFS.
func syncfsDurable(fd int) bool {
	var st unix.Statfs_t
	if unix.Fstatfs(fd, &st) != nil {
		return false
	}
	_, ok := syncfsFS(int64(st.Type))
	return ok
}

// syncfs syncs the file system of fd, on device dev, for files and dirs
// (which are on it), and flushes the disk once more where that is
// needed (flushLast).
func syncfs(fd int, dev uint64, files []*os.File, dirs []string) error {
	t0 := time.Now()
	var err error
	for {
		err = unix.Syncfs(fd)
		if err != unix.EINTR {
			break
		}
	}
	if err == nil && flushLast(dev, fd) {
		// Nothing is left to write: this fsync is the flush.
		for {
			err = unix.Fsync(fd)
			if err != unix.EINTR {
				break
			}
		}
	}
	if d := time.Since(t0); d > slowSyncfs {
		syncfsOff.Store(time.Now().Add(quietFor).UnixNano())
	}
	if err != nil {
		return fmt.Errorf("sync file system of %s and %d more: %w", files[0].Name(), len(files)+len(dirs)-1, err)
	}
	return nil
}

// flushLast reports whether a syncfs of the file system of fd (on device
// dev) must be followed by one more flush of the disk's cache before
// what it wrote is durable: ext2, ext3 and ext4 without a journal.
//
// Why: syncfs writes back the data, asks the file system's sync_fs to
// finish (where ext4 without a journal flushes the disk's cache), and
// only then writes the metadata blocks left dirty in the block device's
// cache (fs/sync.c). Among them is the inode of a file whose new blocks
// were just written: ext4 allocates them as unwritten extents and marks
// them written when the data's write completes, after the writes that
// went before the flush. A block trace of one syncfs of a new file here
// shows it: the data, the metadata, the flush, then one more metadata
// write, which a power loss before the next flush can undo, leaving the
// file's blocks reading as zeros. ext2's own sync_fs flushes nothing. A
// file system with a journal (ext3, ext4) commits it, with its flushes,
// in sync_fs; xfs, btrfs and f2fs commit their logs, transactions and
// checkpoints there too.
func flushLast(dev uint64, fd int) bool {
	k, ok := ext4Kind(dev, fd)
	return !ok || k.ext4 && !k.journal
}

// fsKind is what ext4Kind found of a file system.
type fsKind struct {
	ext4    bool // ext2, ext3 or ext4 (their common magic number)
	journal bool // it has a journal
	driver  bool // the ext4 driver runs it (it is in /sys/fs/ext4)
}

// ext4Kind says whether the file system of fd (on device dev) is
// ext2/3/4, whether it has a journal and whether the ext4 driver runs
// it; ok is false when fd cannot be looked at. The answer is kept per
// file system: a mounted file system does not gain or lose its journal.
func ext4Kind(dev uint64, fd int) (k fsKind, ok bool) {
	var st unix.Statfs_t
	if unix.Fstatfs(fd, &st) != nil {
		return fsKind{}, false
	}
	key := fsKey{dev, st.Fsid}
	if v, found := ext4Kinds.Load(key); found {
		return v.(fsKind), true
	}
	if int64(st.Type) == unix.EXT4_SUPER_MAGIC {
		name := devName(dev)
		k = fsKind{ext4: true, journal: journaled(name), driver: ext4Driver(name)}
	}
	ext4Kinds.Store(key, k)
	return k, true
}

var ext4Kinds sync.Map // fsKey → fsKind

// fsKey names a mounted file system: its device number and its f_fsid.
// The device number alone may name another file system later: a loop
// device or a removable disk is used again by the next mount.
type fsKey struct {
	dev  uint64
	fsid unix.Fsid
}

// sysRoot and procRoot are where sysfs and procfs are mounted (variables
// for the tests).
var sysRoot, procRoot = "/sys", "/proc"

// devName returns the kernel's name of block device dev ("vda",
// "sda1", "dm-0"), or "" when it is not known.
func devName(dev uint64) string {
	link, err := os.Readlink(fmt.Sprintf("%s/dev/block/%d:%d", sysRoot, unix.Major(dev), unix.Minor(dev)))
	if err != nil {
		return ""
	}
	return filepath.Base(link)
}

// ext4Driver reports whether the file system on device name is run by
// the ext4 driver, which lists each of its file systems in sysfs. ext2
// and ext3 may be run by it or by drivers of their own, whose fsync does
// not write a new name's directory (see FsyncCoversRename).
func ext4Driver(name string) bool {
	if name == "" {
		return false
	}
	st, err := os.Stat(filepath.Join(sysRoot, "fs", "ext4", name))
	return err == nil && st.IsDir()
}

// journaled reports whether the ext4 file system on device name has a
// journal: its journal_task in sysfs names the journal's thread, or
// says "<none>"; where that file is missing (an older kernel, or the
// ext2 driver), a journal shows as a /proc/fs/jbd2 entry named after
// the device. Unknown counts as no journal: one flush more.
func journaled(name string) bool {
	if name == "" {
		return false
	}
	if b, err := os.ReadFile(filepath.Join(sysRoot, "fs", "ext4", name, "journal_task")); err == nil {
		t := strings.TrimSpace(string(b))
		return t != "" && t != "<none>"
	}
	ents, err := os.ReadDir(filepath.Join(procRoot, "fs", "jbd2"))
	if err != nil {
		return false
	}
	for _, e := range ents {
		if strings.HasPrefix(e.Name(), name+"-") {
			return true
		}
	}
	return false
}

// SyncRenamed makes f's data and its name in dir durable, after f was
// renamed (or linked) into dir under a name that was not there: where
// one fsync of f is known to do both (FsyncCoversRename), that fsync;
// elsewhere SyncBatch of f and dir.
//
// Why: one fsync is one flush of the disk, where SyncBatch's syncfs is
// one on ext4 with a journal (after the kernel's flusher thread has
// written back the whole file system) and two without (see flushLast),
// and sendmail's order (an fsync of the file, then one of dir) is two.
// Measured on a journaled ext4 here (a loop device): 1840–2590
// messages a second by the one fsync against 1060–1160 by the syncfs,
// and 900–1400 by sendmail's order.
//
// On ext4 without a journal it also looks at dir after the fsync. If
// dir has grown (a new block for the name) or is not the directory it
// was at the last sync of it that this process made, it syncs f and
// dir by SyncBatch as well, and remembers dir's size as durable. The
// fsync is known to write dir's inode too (ext4_sync_parent), but a new
// block of a directory is the one change whose loss would lose names
// already there, and it comes once in thousands of messages: for it the
// sync that writes everything is kept.
func SyncRenamed(f *os.File, dir string) error {
	k, ok := fileKind(f)
	if !ok || !fsyncCovers(k) {
		return SyncBatch([]*os.File{f}, []string{dir})
	}
	if err := f.Sync(); err != nil {
		return fmt.Errorf("sync %s: %w", f.Name(), err)
	}
	if k.journal {
		return nil
	}
	var st unix.Stat_t
	if err := unix.Stat(dir, &st); err != nil {
		return SyncBatch([]*os.File{f}, []string{dir})
	}
	now := dirState{st.Dev, st.Ino, st.Size}
	if was, ok := durableDirs.Load(dir); ok && was.(dirState) == now {
		return nil
	}
	if err := SyncBatch([]*os.File{f}, []string{dir}); err != nil {
		return err
	}
	// The sync began after the Stat: what it wrote of dir is at least
	// as large (a directory on ext4 does not shrink).
	durableDirs.Store(dir, now)
	return nil
}

// dirState is a directory's identity and size.
type dirState struct {
	dev, ino uint64
	size     int64
}

// durableDirs holds, per directory path, the dirState that a sync made
// durable (SyncRenamed, ext4 without a journal).
var durableDirs sync.Map

// FsyncCoversRename reports whether an fsync of f, begun after f was
// renamed (or linked) into a directory under a new name, also makes
// that name durable: on ext4, with or without a journal.
//
// With a journal: the rename and the file's new blocks are changes in
// the journal's running transaction (the rename sets f's ctime), and
// an fsync of f commits that transaction, the rename with it.
//
// Without one: ext4 marks an inode that gained a directory entry (a
// creation, a link, a rename to a name that was not there:
// ext4_add_entry sets EXT4_STATE_NEWENTRY), and its fsync then writes
// the directory's blocks and inode before the disk's cache flush, for
// each parent up the path that is new in the same way
// (ext4_sync_parent, fs/ext4/fsync.c). TestSyncRenamedPowerLoss checks
// it on the running kernel with a copy of a disk image taken right
// after the fsync: the new name and the data are there, for directories
// that kept their size and for ones that grew a block; without the
// fsync, neither. The ext2 and ext3 drivers, which may run
// those file systems instead of the ext4 driver, do not do this; nor
// is it relied on elsewhere.
func FsyncCoversRename(f *os.File) bool {
	k, ok := fileKind(f)
	return ok && fsyncCovers(k)
}

func fsyncCovers(k fsKind) bool { return k.ext4 && (k.journal || k.driver) }

// fileKind is ext4Kind of f's file system.
func fileKind(f *os.File) (fsKind, bool) {
	var st syscall.Stat_t
	if syscall.Fstat(int(f.Fd()), &st) != nil {
		return fsKind{}, false
	}
	return ext4Kind(st.Dev, int(f.Fd()))
}

// syncEach fsyncs every file and directory, up to eight at a time.
func syncEach(files []*os.File, dirs []string) error {
	n := len(files) + len(dirs)
	one := func(i int) error {
		if i < len(files) {
			if err := files[i].Sync(); err != nil {
				return fmt.Errorf("sync %s: %w", files[i].Name(), err)
			}
			return nil
		}
		return SyncDir(dirs[i-len(files)])
	}
	if n == 1 {
		return one(0)
	}
	errs := make([]error, n)
	next := make(chan int)
	var wg sync.WaitGroup
	for range min(8, n) {
		wg.Go(func() {
			for i := range next {
				errs[i] = one(i)
			}
		})
	}
	for i := range n {
		next <- i
	}
	close(next)
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

// Explain says how SyncBatch makes a batch of files in the given
// directories (the outbox and a store) durable, for homepost check: by
// one syncfs, or by an fsync per file, and why.
func Explain(dirs ...string) string {
	const each = "a copy is made durable by its own fsync: "
	if !kernelOK() {
		return each + "this kernel is older than Linux 5.8, whose syncfs does not report a failed write"
	}
	var dev uint64
	for i, d := range dirs {
		var st syscall.Stat_t
		if err := syscall.Stat(d, &st); err != nil {
			return each + d + ": " + err.Error()
		}
		if i > 0 && st.Dev != dev {
			return each + dirs[0] + " and " + d + " are on different file systems"
		}
		dev = st.Dev
	}
	var fs unix.Statfs_t
	if err := unix.Statfs(dirs[0], &fs); err != nil {
		return each + dirs[0] + ": " + err.Error()
	}
	name, ok := syncfsFS(int64(fs.Type))
	if !ok {
		return fmt.Sprintf("%sthe file system (type %#x) is not one whose syncfs is known to make files durable", each, fs.Type)
	}
	batch := "a batch of copies is made durable by one syncfs (one file system, " + name + ", Linux 5.8 or later)"
	if int64(fs.Type) == unix.EXT4_SUPER_MAGIC {
		if journaled(devName(dev)) {
			batch += "; a message over SMTP alone in its round by one fsync of its queue file (ext4 with a journal)"
		} else {
			batch = "a batch of copies is made durable by one syncfs and one more flush of the disk (one file system, " + name + " without a journal, Linux 5.8 or later)"
			if ext4Driver(devName(dev)) {
				batch += "; a message over SMTP alone in its round by one fsync of its queue file"
			}
		}
	}
	if d := dirty(); d > maxDirty {
		return fmt.Sprintf("%s; an fsync per copy for now: %d MB of data wait to be written, more than %d MB", batch, d>>20, maxDirty>>20)
	}
	return batch
}
