// Package watch follows a Kubernetes checkout while it is edited. It
// watches the directories of the packages the built commands are compiled
// from, gathers the files one save changes into one batch, and says which
// commands a batch touches, from Go's package graph rather than from file
// names.
package watch

import (
	"context"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/fsnotify/fsnotify"

	"github.com/kenv-dev/kenv/env/build"
)

// Graph says which commands each package directory of a tree is compiled
// into, and how many imports away from each command's main package it is.
type Graph struct {
	root string
	dirs map[string]map[string]int
	// imports are what the package in each directory imports.
	imports map[string][]string
	all     []string
}

// NewGraph keeps, of the packages each command is compiled from (as
// build.Packages lists them), those in the tree at root: the module cache
// and the toolchain do not change under the user.
func NewGraph(root string, deps map[string][]build.Package) *Graph {
	g := &Graph{root: root, dirs: map[string]map[string]int{}, imports: map[string][]string{}}
	for command, pkgs := range deps {
		g.all = append(g.all, command)
		for _, p := range pkgs {
			if p.Dir == "" || !within(root, p.Dir) {
				continue
			}
			if g.dirs[p.Dir] == nil {
				g.dirs[p.Dir] = map[string]int{}
			}
			g.dirs[p.Dir][command] = p.Depth
			g.imports[p.Dir] = p.Imports
		}
	}
	slices.Sort(g.all)
	return g
}

// Dirs are the package directories to watch.
func (g *Graph) Dirs() []string {
	dirs := make([]string, 0, len(g.dirs))
	for d := range g.dirs {
		dirs = append(dirs, d)
	}
	slices.Sort(dirs)
	return dirs
}

// Modules are the files that, changed, may change what every command is
// compiled from: the workspace and the main module's requirements.
func (g *Graph) Modules() []string {
	return []string{filepath.Join(g.root, "go.work"), filepath.Join(g.root, "go.mod"), filepath.Join(g.root, "go.sum")}
}

// Touched returns, sorted, the commands compiled from the changed files.
func (g *Graph) Touched(changed []string) []string {
	var touched []string
	for _, c := range g.all {
		if g.Depth(c, changed) >= 0 {
			touched = append(touched, c)
		}
	}
	return touched
}

// Depth is how many imports away from command's main package the nearest
// package of the changed files is; 0 when a module file changed, -1 when
// command is not compiled from them.
func (g *Graph) Depth(command string, changed []string) int {
	depth := -1
	for _, f := range changed {
		d, ok := g.dirs[filepath.Dir(f)][command]
		if slices.Contains(g.Modules(), f) {
			d, ok = 0, true
		}
		if ok && (depth < 0 || d < depth) {
			depth = d
		}
	}
	return depth
}

// Imports reports whether a changed Go file imports a package its
// package did not import when the graph was listed: then the graph is to
// be listed again, and the new packages watched. Reading the import
// blocks of the changed files takes microseconds; listing the graph takes
// seconds, which a round would otherwise share its CPU with.
func (g *Graph) Imports(changed []string) bool {
	fset := token.NewFileSet()
	for _, f := range changed {
		known, ok := g.imports[filepath.Dir(f)]
		if !ok || filepath.Ext(f) != ".go" {
			continue
		}
		file, err := parser.ParseFile(fset, f, nil, parser.ImportsOnly)
		if err != nil {
			continue // deleted, or not Go yet: the build says what is wrong
		}
		for _, imp := range file.Imports {
			if path, err := strconv.Unquote(imp.Path.Value); err == nil && path != "C" && !slices.Contains(known, path) {
				return true
			}
		}
	}
	return false
}

// Compiled reports whether a file of that name in a package directory is
// compiled into a binary: Go, assembly and C files, not tests, not the
// files go ignores (a leading "." or "_", as editors' temporary files
// have).
func Compiled(name string) bool {
	base := filepath.Base(name)
	if strings.HasPrefix(base, ".") || strings.HasPrefix(base, "_") || strings.HasSuffix(base, "_test.go") {
		return false
	}
	switch filepath.Ext(base) {
	case ".go", ".s", ".c", ".h", ".syso":
		return true
	}
	return false
}

// clockLag is how far behind the clock a file's modification time may
// be: the kernel stamps files with a clock read at its last tick.
const clockLag = 50 * time.Millisecond

// ChangedSince returns, sorted, what New would watch (the compiled files
// of dirs, and files) that was modified after since: the saves made
// before a watcher ran, such as those during the build it follows. A
// directory or file that cannot be read is left out; its next save is
// seen.
func ChangedSince(dirs, files []string, since time.Time) []string {
	since = since.Add(-clockLag)
	var changed []string
	note := func(path string, fi os.FileInfo) {
		if fi.Mode().IsRegular() && fi.ModTime().After(since) {
			changed = append(changed, path)
		}
	}
	for _, d := range dirs {
		entries, err := os.ReadDir(d)
		if err != nil {
			continue
		}
		for _, e := range entries {
			if !Compiled(e.Name()) {
				continue
			}
			if fi, err := e.Info(); err == nil {
				note(filepath.Join(d, e.Name()), fi)
			}
		}
	}
	for _, f := range files {
		if fi, err := os.Stat(f); err == nil {
			note(f, fi)
		}
	}
	slices.Sort(changed)
	return slices.Compact(changed)
}

func within(root, path string) bool {
	rel, err := filepath.Rel(root, path)
	return err == nil && rel != ".." && !strings.HasPrefix(rel, ".."+string(filepath.Separator))
}

// Watcher reports the changes to files of watched package directories
// and to single files, such as a spec, a save at a time.
type Watcher struct {
	fs    *fsnotify.Watcher
	dirs  map[string]bool
	files map[string]bool
}

// New watches dirs for compiled files (Compiled) and files for any
// change. A file is watched through its directory, so that an editor
// saving by renaming a new file over it is seen.
func New(dirs, files []string) (*Watcher, error) {
	fw, err := fsnotify.NewWatcher()
	if err != nil {
		return nil, err
	}
	w := &Watcher{fs: fw, dirs: map[string]bool{}, files: map[string]bool{}}
	for _, f := range files {
		w.files[f] = true
	}
	if err := w.Add(dirs); err != nil {
		fw.Close()
		return nil, err
	}
	for _, f := range files {
		if err := fw.Add(filepath.Dir(f)); err != nil {
			fw.Close()
			return nil, err
		}
	}
	return w, nil
}

// Add watches more package directories, such as those an edit starts
// importing.
func (w *Watcher) Add(dirs []string) error {
	for _, d := range dirs {
		if w.dirs[d] {
			continue
		}
		if err := w.fs.Add(d); err != nil {
			return err
		}
		w.dirs[d] = true
	}
	return nil
}

// Next waits for a change and returns, sorted, the files changed until
// quiet passed without another: an editor's save, or a checkout of a
// branch, is one batch.
func (w *Watcher) Next(ctx context.Context, quiet time.Duration) ([]string, error) {
	changed := map[string]bool{}
	var settle <-chan time.Time
	for {
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case err := <-w.fs.Errors:
			return nil, err
		case ev := <-w.fs.Events:
			if !w.counts(ev) {
				continue
			}
			changed[ev.Name] = true
			settle = time.After(quiet)
		case <-settle:
			out := make([]string, 0, len(changed))
			for f := range changed {
				out = append(out, f)
			}
			slices.Sort(out)
			return out, nil
		}
	}
}

func (w *Watcher) counts(ev fsnotify.Event) bool {
	if !ev.Has(fsnotify.Write) && !ev.Has(fsnotify.Create) && !ev.Has(fsnotify.Remove) && !ev.Has(fsnotify.Rename) {
		return false
	}
	return w.files[ev.Name] || (w.dirs[filepath.Dir(ev.Name)] && Compiled(ev.Name))
}

// Close stops watching.
func (w *Watcher) Close() error { return w.fs.Close() }
