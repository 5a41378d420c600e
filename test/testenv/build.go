package testenv

// Building the binary under test. Every black-box suite and every
// package test that runs the real program gets it from Binary, so that
// all of them test the same build, made the way the Makefile makes it.
//
// go test runs the test binaries of several packages at once (-p), and
// each of them would otherwise build homepost for itself. Builds are
// therefore kept in a cache keyed by the content of the sources: the
// first process to need a build makes it under a file lock, the others
// wait for it and reuse it, and a later run with unchanged sources
// starts at once.

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Links are the names the binary is linked under beside it, as make
// install links them (mailx is left out: a suite may want s-nail's).
// sendmail is not a link but the small program cmd/sendmail, built
// beside homepost as make install installs it; sendmail.homepost runs
// homepost's own sendmail, so that a test can run both (Sendmails).
var Links = []string{"sendmail.homepost", "mailq", "newaliases", "mail"}

// Sendmails are the two programs that answer as sendmail: the small one
// that make install puts first, and homepost sendmail. They must behave
// alike byte for byte.
var Sendmails = []string{"sendmail", "sendmail.homepost"}

// buildFlags are the Makefile's, without the linker flags that only
// strip the binary and stamp its version: the package archives are
// shared with make's builds in the Go build cache.
var buildFlags = []string{"-trimpath", "-tags", "osusergo,netgo"}

var (
	buildOnce sync.Once
	binDir    string
	buildErr  error
	// buildEnv is the environment the process started with: tests that
	// move HOME with t.Setenv must not move the Go caches with it.
	buildEnv = append(os.Environ(), "CGO_ENABLED=0")
	goCmd    = lookGo()
	// startTempDir is the temporary directory the process started
	// with: a test may point TMPDIR at a file system it unmounts when
	// it ends, and builds made then must outlive it.
	startTempDir = os.TempDir()
)

// lookGo finds the go command on the PATH the process started with.
func lookGo() string {
	if p, err := exec.LookPath("go"); err == nil {
		return p
	}
	return "go"
}

// Binary builds homepost once per test process and returns the
// directory holding it and its links (Links). The build is shared with
// other test processes through a cache keyed by the sources' content.
func Binary(t testing.TB) string {
	t.Helper()
	dir, err := Build()
	if err != nil {
		t.Fatal(err)
	}
	return dir
}

// Build is Binary for a TestMain: it returns the directory, or the
// error with the compiler's output.
func Build() (string, error) {
	buildOnce.Do(func() { binDir, buildErr = build() })
	return binDir, buildErr
}

// Program is the path of homepost under one of its names: "homepost"
// or one of Links.
func Program(t testing.TB, name string) string {
	t.Helper()
	return filepath.Join(Binary(t), name)
}

// Root is the directory of the module under test.
func Root() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Clean(filepath.Join(filepath.Dir(file), "..", ".."))
}

// An unused build is kept for cacheAge; beyond the newest cacheKeep,
// for minAge: a test process may still be running it.
const (
	cacheAge  = 24 * time.Hour
	cacheKeep = 8
	minAge    = time.Hour
)

func build() (string, error) {
	root := Root()
	key, err := sourceKey(root)
	if err != nil {
		return "", fmt.Errorf("testenv: hash the sources: %w", err)
	}
	cache, err := cacheDir()
	if err != nil {
		return "", err
	}
	dir := filepath.Join(cache, key)
	if ready(dir) {
		return dir, nil
	}
	// One build per key at a time: the others wait here and reuse it.
	lock, err := os.OpenFile(dir+".lock", os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return "", fmt.Errorf("testenv: build lock: %w", err)
	}
	defer lock.Close()
	if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_EX); err != nil {
		return "", fmt.Errorf("testenv: build lock: %w", err)
	}
	if ready(dir) {
		return dir, nil
	}
	prune(cache)
	tmp, err := os.MkdirTemp(cache, "build-")
	if err != nil {
		return "", fmt.Errorf("testenv: %w", err)
	}
	args := append(append([]string{"build"}, buildFlags...), "-o", tmp+"/", ".", "./cmd/sendmail")
	cmd := exec.Command(goCmd, args...)
	cmd.Dir = root
	cmd.Env = buildEnv
	start := time.Now()
	if out, err := cmd.CombinedOutput(); err != nil {
		os.RemoveAll(tmp)
		return "", fmt.Errorf("testenv: go build: %v\n%s", err, out)
	}
	for _, l := range Links {
		if err := os.Symlink("homepost", filepath.Join(tmp, l)); err != nil {
			os.RemoveAll(tmp)
			return "", fmt.Errorf("testenv: %w", err)
		}
	}
	// Sources edited during the build: the binary is this process's
	// own, not the key's.
	if again, err := sourceKey(root); err != nil || again != key {
		return tmp, nil
	}
	if err := os.Rename(tmp, dir); err != nil {
		return tmp, nil
	}
	if d := time.Since(start); d > 10*time.Second {
		fmt.Fprintf(os.Stderr, "testenv: built homepost in %.0fs\n", d.Seconds())
	}
	return dir, nil
}

// ready reports whether dir holds a finished build, and marks it used.
func ready(dir string) bool {
	if _, err := os.Stat(filepath.Join(dir, "homepost")); err != nil {
		return false
	}
	now := time.Now()
	os.Chtimes(dir, now, now)
	return true
}

// cacheDir is a directory of the user's own under the temporary
// directory the process started with; one owned by anyone else is
// refused.
func cacheDir() (string, error) {
	dir := filepath.Join(startTempDir, fmt.Sprintf("homepost-testbin-%d", os.Getuid()))
	if err := os.Mkdir(dir, 0o700); err != nil && !errors.Is(err, fs.ErrExist) {
		return "", fmt.Errorf("testenv: build cache: %w", err)
	}
	fi, err := os.Lstat(dir)
	if err != nil {
		return "", fmt.Errorf("testenv: build cache: %w", err)
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !fi.IsDir() || !ok || int(st.Uid) != os.Getuid() || fi.Mode().Perm()&0o022 != 0 {
		return "", fmt.Errorf("testenv: build cache %s is not a private directory of this user", dir)
	}
	return dir, nil
}

// prune removes builds (and their lock files) unused for cacheAge, and
// the oldest beyond cacheKeep unused for minAge.
func prune(cache string) {
	ents, _ := os.ReadDir(cache)
	type entry struct {
		name string
		age  time.Duration
	}
	var all []entry
	for _, e := range ents {
		if fi, err := e.Info(); err == nil {
			all = append(all, entry{e.Name(), time.Since(fi.ModTime())})
		}
	}
	sort.Slice(all, func(i, j int) bool { return all[i].age < all[j].age })
	builds := 0
	for _, e := range all {
		if !strings.HasSuffix(e.name, ".lock") {
			builds++
		}
		if e.age > cacheAge || builds > cacheKeep && e.age > minAge {
			os.RemoveAll(filepath.Join(cache, e.name))
		}
	}
}

// sourceKey hashes what the build reads: the Go version, the build
// flags, GOFLAGS and every file of the module outside test/, .git and
// testdata, _test.go files and executables excepted. Files the build
// does not read (man pages, the README) are hashed too: a needless
// relink is cheap, a stale binary is not.
func sourceKey(root string) (string, error) {
	const bigFile = 4 << 20
	var files []string
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		name := d.Name()
		if d.IsDir() {
			if rel != "." && (strings.HasPrefix(name, ".") || name == "testdata" || rel == "test") {
				return filepath.SkipDir
			}
			return nil
		}
		if !d.Type().IsRegular() || strings.HasSuffix(name, "_test.go") || strings.HasPrefix(name, ".") {
			return nil
		}
		// Programs (make build's ./homepost and ./sendmail, scripts)
		// are not what a build reads, and make install rewrites them
		// while tests run.
		if fi, err := d.Info(); err == nil && fi.Mode().Perm()&0o111 != 0 && !strings.HasSuffix(name, ".go") {
			return nil
		}
		files = append(files, rel)
		return nil
	})
	if err != nil {
		return "", err
	}
	sort.Strings(files)
	h := sha256.New()
	fmt.Fprintf(h, "%s %s/%s %q %q\n", runtime.Version(), runtime.GOOS, runtime.GOARCH, buildFlags, os.Getenv("GOFLAGS"))
	for _, rel := range files {
		f, err := os.Open(filepath.Join(root, rel))
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				continue // removed while we walked
			}
			return "", err
		}
		fmt.Fprintf(h, "%s\x00", rel)
		if fi, err := f.Stat(); err == nil && fi.Size() > bigFile && !strings.HasSuffix(rel, ".go") {
			// A large data file (a corpus, a build left over): its
			// size and time stand for it.
			fmt.Fprintf(h, "%d %d\n", fi.Size(), fi.ModTime().UnixNano())
			f.Close()
			continue
		}
		n, err := io.Copy(h, f)
		f.Close()
		if err != nil {
			return "", err
		}
		fmt.Fprintf(h, "\x00%d\n", n)
	}
	return hex.EncodeToString(h.Sum(nil))[:32], nil
}
