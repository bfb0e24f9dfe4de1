package source

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"github.com/kenv-dev/kenv/env/layout"
)

// FromGit returns the tree of ref in the git repository at url (a URL or a
// path). The repository is mirrored into the cache once and fetched again
// only when ref is not in the mirror; the commit is checked out in a
// worktree of the mirror, one per commit, so its path, and with it Go's
// build cache, stays the same from run to run.
func FromGit(ctx context.Context, cache layout.Cache, url, ref string, progress func(string)) (*Tree, error) {
	sum := sha256.Sum256([]byte(url))
	id := hex.EncodeToString(sum[:6])
	mirror := filepath.Join(cache.Dir, "git", id+".git")
	git := func(dir string, args ...string) (string, error) {
		cmd := exec.CommandContext(ctx, "git", args...)
		cmd.Dir = dir
		out, err := cmd.CombinedOutput()
		if err != nil {
			return "", fmt.Errorf("git %s: %v: %s", strings.Join(args, " "), err, strings.TrimSpace(string(out)))
		}
		return strings.TrimSpace(string(out)), nil
	}

	if _, err := os.Stat(mirror); err != nil {
		progress(fmt.Sprintf("mirroring %s", url))
		if err := os.MkdirAll(filepath.Dir(mirror), 0o755); err != nil {
			return nil, err
		}
		tmp := mirror + ".tmp"
		os.RemoveAll(tmp)
		if _, err := git(filepath.Dir(mirror), "clone", "--mirror", "--quiet", url, tmp); err != nil {
			os.RemoveAll(tmp)
			return nil, fmt.Errorf("clone %s: %w", url, err)
		}
		if err := os.Rename(tmp, mirror); err != nil {
			return nil, err
		}
	}
	commit, err := git(mirror, "rev-parse", "--verify", "--quiet", ref+"^{commit}")
	if err != nil {
		progress(fmt.Sprintf("fetching %s: %s is not in the mirror", url, ref))
		if _, err := git(mirror, "fetch", "--quiet", "--prune", "--tags", "origin"); err != nil {
			return nil, fmt.Errorf("fetch %s: %w", url, err)
		}
		if commit, err = git(mirror, "rev-parse", "--verify", "--quiet", ref+"^{commit}"); err != nil {
			return nil, fmt.Errorf("ref %q is not in %s: name a tag, branch or commit it has", ref, url)
		}
	}

	key := "git-" + id + "@" + commit[:12]
	dir := cache.SourceDir(key)
	if t, err := readMarker(dir); err == nil {
		return t, nil
	}
	// A worktree without a marker is left over from an interrupted run.
	os.RemoveAll(dir)
	if _, err := git(mirror, "worktree", "prune"); err != nil {
		return nil, err
	}
	progress(fmt.Sprintf("checking out %s (%s) in %s", ref, commit[:12], dir))
	if err := os.MkdirAll(filepath.Dir(dir), 0o755); err != nil {
		return nil, err
	}
	if _, err := git(mirror, "worktree", "add", "--detach", "--quiet", dir, commit); err != nil {
		return nil, err
	}
	t, err := FromPath(ctx, dir)
	if err != nil {
		return nil, errors.Join(fmt.Errorf("%s at %s: %w", url, ref, err), os.RemoveAll(dir))
	}
	t.Key, t.Mutable = key, false
	if err := writeMarker(dir, t); err != nil {
		return nil, err
	}
	return t, nil
}

// Location names a source: exactly one of Version, Git (with Ref) and Path.
type Location struct {
	Version  string
	Git, Ref string
	Path     string
}

// Get returns the tree loc names, laying it out in the cache when it comes
// from the module proxy or git.
func Get(ctx context.Context, cache layout.Cache, loc Location, progress func(string)) (*Tree, error) {
	switch {
	case loc.Path != "":
		return FromPath(ctx, loc.Path)
	case loc.Git != "":
		return FromGit(ctx, cache, loc.Git, loc.Ref, progress)
	}
	return FromModule(ctx, cache, loc.Version, progress)
}

// Peek returns the tree loc names as far as it is known without
// downloading, cloning or building: a checkout as it is, a module tree
// from the cache, or a tree still to get, its directory described. cached
// says whether a module tree is in the cache.
func Peek(ctx context.Context, cache layout.Cache, loc Location) (tree *Tree, cached bool, err error) {
	switch {
	case loc.Path != "":
		tree, err = FromPath(ctx, loc.Path)
		return tree, false, err
	case loc.Git != "":
		// Resolving the ref may mean cloning.
		return &Tree{Key: "git", Dir: "<a worktree of " + loc.Git + " at " + loc.Ref + " in " + cache.Dir + ">"}, false, nil
	}
	if tree, ok := Cached(cache, loc.Version); ok {
		return tree, true, nil
	}
	key := "kubernetes@" + loc.Version
	return &Tree{Key: key, Dir: cache.SourceDir(key), Version: Version{GitVersion: loc.Version}}, false, nil
}
