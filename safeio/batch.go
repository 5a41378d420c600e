package safeio

import (
	"fmt"
	"os"
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
// blocks fifty times and waits for fifty flushes, and fsyncs issued side
// by side are served one after another by the disks measured. One
// syncfs(2) of the file system that holds them all writes each dirty
// block once and flushes once: it is the same guarantee for every file
// and directory in the batch (syncfs writes back every dirty inode, data
// page and metadata block of that file system and waits for it).
//
// syncfs is used only where it is sound and cheap:
//   - every file and directory is on one file system (st_dev);
//   - there are at least two things to make durable;
//   - the kernel reports writeback errors through syncfs (Linux 5.8 and
//     later; before, syncfs returned 0 after a failed write, and a copy
//     would be reported durable that is not);
//   - the file system is not busy with other programs' writes: syncfs
//     writes back everything dirty on it, so a download being written
//     in the same home would be waited for. A syncfs that takes longer
//     than slowSyncfs turns batches back to one fsync each (side by
//     side) for quietFor.
//
// Otherwise each file and directory gets its own fsync, up to eight at
// a time. The first error is returned; on error nothing in the batch is
// known to be durable.
func SyncBatch(files []*os.File, dirs []string) error {
	if len(files) > 0 && len(files)+len(dirs) >= 2 && syncfsSound() {
		if fd, ok := oneFileSystem(files, dirs); ok {
			return syncfs(fd, files, dirs)
		}
	}
	return syncEach(files, dirs)
}

// slowSyncfs is the syncfs time beyond which the file system is taken as
// busy with other writers; quietFor is how long batches then use fsyncs.
const (
	slowSyncfs = 100 * time.Millisecond
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
	return kernelOK() && time.Now().UnixNano() >= syncfsOff.Load()
}

// oneFileSystem returns a descriptor to call syncfs on when every file
// and directory is on the same file system. The descriptor is one of
// the files: opened before the batch was written, so that syncfs
// reports a writeback error of any of them (the error is checked
// against what the file system had recorded when it was opened).
func oneFileSystem(files []*os.File, dirs []string) (int, bool) {
	if len(files) == 0 {
		return -1, false
	}
	var dev uint64
	for i, f := range files {
		var st syscall.Stat_t
		if syscall.Fstat(int(f.Fd()), &st) != nil {
			return -1, false
		}
		if i == 0 {
			dev = st.Dev
		} else if st.Dev != dev {
			return -1, false
		}
	}
	for _, d := range dirs {
		var st syscall.Stat_t
		if syscall.Stat(d, &st) != nil || st.Dev != dev {
			return -1, false
		}
	}
	return int(files[0].Fd()), true
}

func syncfs(fd int, files []*os.File, dirs []string) error {
	t0 := time.Now()
	var err error
	for {
		err = unix.Syncfs(fd)
		if err != unix.EINTR {
			break
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
