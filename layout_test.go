package main

import (
	"bufio"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// TestReadmeLayout keeps README's list of directories (the second block of
// "How it fits together") and the tree in step: every directory it names
// exists, every directory that holds Go files is named, and so is every
// top-level directory (cmd/ by the programs under it).
func TestReadmeLayout(t *testing.T) {
	listed := readmeLayout(t)
	if len(listed) == 0 {
		t.Fatal("README.md: no directories listed under \"How it fits together\"")
	}
	for _, d := range listed {
		if fi, err := os.Stat(d); err != nil || !fi.IsDir() {
			t.Errorf("README.md lists %s/, which is not a directory in the tree", d)
		}
	}
	named := func(d string) bool { return slices.Contains(listed, d) }
	under := func(d string) bool {
		return slices.ContainsFunc(listed, func(l string) bool { return strings.HasPrefix(l, d+"/") })
	}

	top, err := os.ReadDir(".")
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range top {
		d := e.Name()
		if !e.IsDir() || skipDir(d) || !holdsFiles(d) {
			continue
		}
		if !named(d) && !under(d) {
			t.Errorf("README.md does not list the top-level directory %s/", d)
		}
	}

	err = filepath.WalkDir(".", func(p string, e fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if e.IsDir() {
			if p != "." && skipDir(e.Name()) {
				return filepath.SkipDir
			}
			return nil
		}
		d := filepath.Dir(p)
		if d != "." && strings.HasSuffix(p, ".go") && !named(d) {
			t.Errorf("README.md does not list %s/, which holds Go files (%s)", d, p)
			return filepath.SkipDir
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// skipDir reports whether a directory is outside the layout: hidden ones
// (.git, .ci) and test data.
func skipDir(name string) bool {
	return strings.HasPrefix(name, ".") || name == "testdata" || name == "vendor"
}

// holdsFiles reports whether dir has a file somewhere below it: an empty
// directory is not in the repository (git keeps none) and needs no line.
func holdsFiles(dir string) bool {
	found := false
	filepath.WalkDir(dir, func(p string, e fs.DirEntry, err error) error {
		if err == nil && !e.IsDir() {
			found = true
			return fs.SkipAll
		}
		return nil
	})
	return found
}

// readmeLayout returns the directories that README.md's second code block
// under "How it fits together" names, one per line, without the slash.
func readmeLayout(t *testing.T) []string {
	t.Helper()
	f, err := os.Open("README.md")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var dirs []string
	section, blocks, inBlock := false, 0, false
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "## ") {
			section = line == "## How it fits together"
			continue
		}
		if !section {
			continue
		}
		if strings.HasPrefix(line, "```") {
			if !inBlock {
				blocks++
			}
			inBlock = !inBlock
			continue
		}
		if !inBlock || blocks != 2 {
			continue
		}
		fields := strings.Fields(line)
		if len(fields) == 0 {
			continue
		}
		if d, ok := strings.CutSuffix(fields[0], "/"); ok {
			dirs = append(dirs, d)
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return dirs
}
