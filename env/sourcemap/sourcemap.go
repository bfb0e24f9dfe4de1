// Package sourcemap maps the file names a -trimpath build records in its
// binaries to the files on this machine, for Delve, its terminal and
// editors. Such a binary names a file by its module path, not by where the
// module lay when it was built, so that the same source gives the same
// binary at any path; the map puts the paths back where a person or a tool
// needs to read source.
package sourcemap

import (
	"cmp"
	"debug/buildinfo"
	"fmt"
	"os"
	"path/filepath"
	"runtime/debug"
	"slices"
	"strings"

	"golang.org/x/mod/modfile"
	"golang.org/x/mod/module"
)

// Rule maps the files a binary names under From to the directory To.
// An empty From stands for every relative name no other rule maps: the
// standard library's.
type Rule struct {
	From string
	To   string
}

// Map is a list of rules, the most specific first.
type Map []Rule

// Inputs are the places a build read its source from.
type Inputs struct {
	// Workspace is the directory of the go.work the build used; each
	// module it uses is mapped to its directory.
	Workspace string
	// GOROOT and GOMODCACHE are the toolchain's and the module cache's
	// directories.
	GOROOT     string
	GOMODCACHE string
	// Binaries are the binaries built; their build information names the
	// module versions they were built from.
	Binaries []string
}

// For returns the map of a build from in.
func For(in Inputs) (Map, error) {
	work, err := workspaceModules(in.Workspace)
	if err != nil {
		return nil, err
	}
	var m Map
	seen := map[string]bool{}
	add := func(from, to string) {
		if !seen[from] {
			seen[from] = true
			m = append(m, Rule{From: from, To: to})
		}
	}
	for _, w := range work {
		add(w.From, w.To)
	}
	for _, bin := range in.Binaries {
		info, err := buildinfo.ReadFile(bin)
		if err != nil {
			return nil, fmt.Errorf("read the build information of %s: %w", bin, err)
		}
		for _, dep := range info.Deps {
			if from, to, ok := cached(in.GOMODCACHE, dep); ok {
				add(from, to)
			}
		}
	}
	// Longer names first, so that a module nested in another's path is
	// matched before it; the standard library's rule comes last.
	slices.SortStableFunc(m, func(a, b Rule) int { return cmp.Compare(len(b.From), len(a.From)) })
	return append(m, Rule{From: "", To: filepath.Join(in.GOROOT, "src")}), nil
}

// workspaceModules maps each module the go.work in dir uses to its
// directory: a -trimpath build names their files by module path alone.
func workspaceModules(dir string) (Map, error) {
	path := filepath.Join(dir, "go.work")
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	work, err := modfile.ParseWork(path, raw, nil)
	if err != nil {
		return nil, err
	}
	var m Map
	for _, use := range work.Use {
		moddir := use.Path
		if !filepath.IsAbs(moddir) {
			moddir = filepath.Join(dir, moddir)
		}
		gomod := filepath.Join(moddir, "go.mod")
		raw, err := os.ReadFile(gomod)
		if err != nil {
			return nil, err
		}
		name := modfile.ModulePath(raw)
		if name == "" {
			return nil, fmt.Errorf("%s names no module", gomod)
		}
		m = append(m, Rule{From: name, To: moddir})
	}
	return m, nil
}

// cached maps a module the build took from the module cache: its files are
// named path@version/..., and lie in the cache under the escaped path and
// version. Workspace modules, and replacements by a directory, are mapped
// by their directory instead.
func cached(modcache string, dep *debug.Module) (from, to string, ok bool) {
	if dep.Version == "" || dep.Version == "(devel)" {
		return "", "", false
	}
	at := dep
	if dep.Replace != nil {
		if dep.Replace.Version == "" {
			return "", "", false
		}
		at = dep.Replace
	}
	p, err := module.EscapePath(at.Path)
	if err != nil {
		return "", "", false
	}
	v, err := module.EscapeVersion(at.Version)
	if err != nil {
		return "", "", false
	}
	return dep.Path + "@" + dep.Version, filepath.Join(modcache, p+"@"+v), true
}

// Delve returns the map as Delve's substitute-path rules, from the
// binary's name to the local one.
func (m Map) Delve() [][2]string {
	rules := make([][2]string, len(m))
	for i, r := range m {
		rules[i] = [2]string{r.From, r.To}
	}
	return rules
}

// Local returns the local file a binary's file name maps to.
func (m Map) Local(name string) string {
	if filepath.IsAbs(name) {
		return name
	}
	for _, r := range m {
		if r.From == "" {
			return filepath.Join(r.To, name)
		}
		if rest, ok := strings.CutPrefix(name, r.From); ok && strings.HasPrefix(rest, "/") {
			return filepath.Join(r.To, rest)
		}
	}
	return name
}

// InitScript returns the commands that set the map in Delve's terminal
// client (dlv connect --init).
func (m Map) InitScript() string {
	var b strings.Builder
	for _, r := range m {
		// Delve's terminal splits on spaces outside double quotes and
		// takes "" as an empty path.
		fmt.Fprintf(&b, "config substitute-path \"%s\" \"%s\"\n", r.From, r.To)
	}
	return b.String()
}
