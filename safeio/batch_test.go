package safeio

import (
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"
)

func TestReleaseAtLeast(t *testing.T) {
	for _, tc := range []struct {
		rel  string
		want bool
	}{
		{"6.1.0-13-amd64", true}, {"5.8.0", true}, {"5.10", true}, {"5.7.19", false},
		{"4.19.0-26-amd64", false}, {"10.0", true}, {"", false}, {"x.y", false}, {"5", false},
	} {
		if got := releaseAtLeast(tc.rel, 5, 8); got != tc.want {
			t.Errorf("releaseAtLeast(%q, 5, 8) = %v, want %v", tc.rel, got, tc.want)
		}
	}
}

func TestMeminfoDirty(t *testing.T) {
	const real = "MemTotal:       24684140 kB\nDirty:              2484 kB\nWriteback:            16 kB\nAnonPages: 1 kB\n"
	if got := meminfoDirty([]byte(real)); got != (2484+16)<<10 {
		t.Errorf("got %d", got)
	}
	for _, bad := range []string{"", "Dirty: 1 kB\n", "Dirty: x kB\nWriteback: 0 kB\n", "Dirty: 1 MB\nWriteback: 0 kB"} {
		if got := meminfoDirty([]byte(bad)); got != math.MaxInt64 {
			t.Errorf("%q: got %d, want unknown", bad, got)
		}
	}
	if d := dirty(); d == math.MaxInt64 {
		t.Error("this system's /proc/meminfo was not understood")
	}
}

// SyncBatch, seen in its system calls (under strace): files and a
// directory on one file system take one syncfs and no fsync; one file
// alone takes its fsync; files on two file systems (a tmpfs and the
// test's directory, when they differ) take an fsync each.
func TestSyncBatchCalls(t *testing.T) {
	if dirs := os.Getenv("SAFEIO_TEST_BATCH"); dirs != "" {
		maxDirty = math.MaxInt64 // whatever else this machine writes
		var files []*os.File
		for i, d := range strings.Split(dirs, ":") {
			f, err := os.Create(filepath.Join(d, "f"+string(rune('a'+i))))
			if err != nil {
				t.Fatal(err)
			}
			f.WriteString("data\n")
			files = append(files, f)
		}
		var extra []string
		if len(files) > 1 {
			extra = []string{filepath.Dir(files[0].Name())}
		}
		if err := SyncBatch(files, extra); err != nil {
			t.Fatal(err)
		}
		return
	}
	if !kernelOK() {
		t.Skip("the kernel does not report errors through syncfs: SyncBatch fsyncs each file")
	}
	strace, err := exec.LookPath("strace")
	if err != nil {
		t.Skip("strace is not installed: the calls of SyncBatch are not checked")
	}
	calls := func(dirs ...string) string {
		trace := filepath.Join(t.TempDir(), "trace")
		cmd := exec.Command(strace, "-f", "-qq", "-o", trace, "-e", "trace=fsync,syncfs",
			os.Args[0], "-test.run=^TestSyncBatchCalls$", "-test.count=1")
		cmd.Env = append(os.Environ(), "SAFEIO_TEST_BATCH="+strings.Join(dirs, ":"))
		if out, err := cmd.CombinedOutput(); err != nil {
			if strings.Contains(strings.ToLower(string(out)), "ptrace") {
				t.Skipf("strace cannot trace here: %s", out)
			}
			t.Fatalf("%v: %s", err, out)
		}
		b, err := os.ReadFile(trace)
		if err != nil {
			t.Fatal(err)
		}
		var names []string
		for _, m := range regexp.MustCompile(`(?m)^\d+ +(fsync|syncfs)\(`).FindAllStringSubmatch(string(b), -1) {
			names = append(names, m[1])
		}
		return strings.Join(names, " ")
	}
	d := t.TempDir()
	f, err := os.Open(d)
	if err != nil {
		t.Fatal(err)
	}
	known := syncfsDurable(int(f.Fd()))
	last := flushLast(devOf(t, d), int(f.Fd()))
	f.Close()
	if got := calls(d, d, d); known && !last && got != "syncfs" {
		t.Errorf("three files and their directory on one file system: %q, want one syncfs", got)
	} else if known && last && got != "syncfs fsync" {
		t.Errorf("three files and their directory on ext4 without a journal: %q, want one syncfs and one fsync (the last flush)", got)
	} else if !known && got != "fsync fsync fsync fsync" {
		t.Errorf("three files and their directory on a file system whose syncfs is not trusted: %q, want an fsync each", got)
	}
	if got := calls(d); got != "fsync" {
		t.Errorf("one file: %q, want one fsync", got)
	}
	// A tmpfs beside the test's directory: files on two file systems.
	shm, err := os.MkdirTemp("/dev/shm", "safeio")
	if err != nil || devOf(t, shm) == devOf(t, d) {
		t.Log("no second file system: the mixed batch is not checked")
		return
	}
	defer os.RemoveAll(shm)
	if got := calls(d, shm); got != "fsync fsync fsync" {
		t.Errorf("files on two file systems: %q, want an fsync of each and of the directory", got)
	}
}

func devOf(t *testing.T, p string) uint64 {
	var st syscall.Stat_t
	if err := syscall.Stat(p, &st); err != nil {
		t.Fatal(err)
	}
	return st.Dev
}

func TestExplain(t *testing.T) {
	d := t.TempDir()
	if !kernelOK() {
		if got := Explain(d, d); !strings.Contains(got, "older than Linux 5.8") {
			t.Errorf("old kernel: %q", got)
		}
		return
	}
	maxDirty = math.MaxInt64
	defer func() { maxDirty = 64 << 20 }()
	f, err := os.Open(d)
	if err != nil {
		t.Fatal(err)
	}
	known := syncfsDurable(int(f.Fd()))
	f.Close()
	got := Explain(d, d)
	switch {
	case known && !strings.HasPrefix(got, "a batch of copies is made durable by one syncfs (one file system, ") &&
		!strings.HasPrefix(got, "a batch of copies is made durable by one syncfs and one more flush of the disk (one file system, "):
		t.Errorf("one file system: %q", got)
	case !known && !strings.Contains(got, "is not one whose syncfs is known"):
		t.Errorf("one file system of another kind: %q", got)
	}
	if got := Explain(d, filepath.Join(d, "missing")); !strings.Contains(got, "own fsync") || !strings.Contains(got, "missing") {
		t.Errorf("a missing directory: %q", got)
	}
	shm, err := os.MkdirTemp("/dev/shm", "safeio")
	if err != nil || devOf(t, shm) == devOf(t, d) {
		t.Log("no second file system: the mixed case is not checked")
		return
	}
	defer os.RemoveAll(shm)
	if got := Explain(d, shm); !strings.Contains(got, "different file systems") {
		t.Errorf("two file systems: %q", got)
	}
}

// syncfs is trusted only where the file system is known to make files
// durable by it: not, say, on procfs (nor eCryptfs, FUSE, NFS).
func TestSyncfsDurable(t *testing.T) {
	f, err := os.Open("/proc/self/stat")
	if err != nil {
		t.Skip("no /proc")
	}
	defer f.Close()
	if syncfsDurable(int(f.Fd())) {
		t.Error("procfs counted as a file system whose syncfs makes files durable")
	}
	shm, err := os.Open("/dev/shm")
	if err != nil {
		t.Skip("no /dev/shm")
	}
	defer shm.Close()
	var st syscall.Statfs_t
	if syscall.Fstatfs(int(shm.Fd()), &st) == nil && st.Type == 0x01021994 && !syncfsDurable(int(shm.Fd())) {
		t.Error("tmpfs not counted")
	}
}

// A journal is told by sysfs's journal_task ("<none>" without one), or,
// where that file is missing, by an entry of /proc/fs/jbd2 named after
// the device; a device not found counts as one without a journal, which
// costs one flush more and loses nothing.
func TestJournaled(t *testing.T) {
	defer func(s, p string) { sysRoot, procRoot = s, p }(sysRoot, procRoot)
	sysRoot, procRoot = t.TempDir(), t.TempDir()
	task := func(dev, text string) {
		d := filepath.Join(sysRoot, "fs", "ext4", dev)
		os.MkdirAll(d, 0o755)
		os.WriteFile(filepath.Join(d, "journal_task"), []byte(text), 0o644)
	}
	task("vda", "<none>\n")
	task("sda1", "412\n")
	task("sdb1", "")
	os.MkdirAll(filepath.Join(procRoot, "fs", "jbd2", "nvme0n1p2-8"), 0o755)
	os.MkdirAll(filepath.Join(procRoot, "fs", "jbd2", "sdc1-8"), 0o755)
	for name, want := range map[string]bool{
		"vda":       false, // sysfs says none
		"sda1":      true,  // the journal's thread
		"sdb1":      false, // an empty answer: unknown
		"nvme0n1p2": true,  // no sysfs entry, a jbd2 one
		"nvme0n1":   false, // another device's jbd2 entry is not this one's
		"sdc":       false,
		"":          false,
	} {
		if got := journaled(name); got != want {
			t.Errorf("journaled(%q) = %v, want %v", name, got, want)
		}
	}

	// The device's name comes from /sys/dev/block.
	os.MkdirAll(filepath.Join(sysRoot, "dev", "block"), 0o755)
	os.Symlink("../../devices/pci0000:00/0000:00:02.0/virtio1/block/vda", filepath.Join(sysRoot, "dev", "block", "254:0"))
	if got := devName(unix.Mkdev(254, 0)); got != "vda" {
		t.Errorf("devName(254:0) = %q, want vda", got)
	}
	if got := devName(unix.Mkdev(8, 1)); got != "" {
		t.Errorf("devName of a device not listed = %q, want empty", got)
	}
}
