// Package snapshot keeps an environment's state as one file a user can
// copy next to the spec and commit: etcd's own snapshot of the embedded
// member and what it was taken of (the environment's versions, the spec's
// hash), in a gzip'd tar.
package snapshot

import (
	"archive/tar"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/google/renameio/v2"

	"github.com/kenv-dev/kenv/env/layout"
)

// Ext is a snapshot file's extension.
const Ext = ".snapshot"

// The members of a snapshot file, in this order: what it is, then the data.
const (
	metaName = "kenv-snapshot.json"
	dbName   = "etcd.db"
)

// Meta is what a snapshot was taken of.
type Meta struct {
	Name        string
	Environment string
	Taken       time.Time
	// Spec is the spec's path then, SpecHash the SHA-256 of its content.
	Spec, SpecHash string
	// Versions are the environment's components and the release each ran
	// as ("v1.34.4", "v1.34.4 emulating 1.33"): what decides how the
	// objects were stored.
	Versions map[string]string
	// Revision and Keys are etcd's revision and number of keys; DBSize
	// the size of etcd's snapshot before compression.
	Revision, Keys, DBSize int64
}

// Path is where the snapshot name of env is: a path as it is when name
// is one (it holds a / or ends in .snapshot), else the environment's
// snapshots directory.
func Path(env layout.Env, name string) string {
	if strings.ContainsRune(name, os.PathSeparator) || strings.HasSuffix(name, Ext) {
		return name
	}
	return filepath.Join(Dir(env), name+Ext)
}

// Dir is the environment's snapshots directory.
func Dir(env layout.Env) string { return filepath.Join(env.Dir, "snapshots") }

// SpecHash is the SHA-256 of the spec file's content.
func SpecHash(specFile string) (string, error) {
	data, err := os.ReadFile(specFile)
	if err != nil {
		return "", err
	}
	sum := sha256.Sum256(data)
	return hex.EncodeToString(sum[:]), nil
}

// Write writes the snapshot file path from m and etcd's snapshot in the
// file db, whole or not at all. It is 0600: it holds the environment's
// secrets.
func Write(path string, m Meta, db string) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return err
	}
	f, err := renameio.NewPendingFile(path, renameio.WithPermissions(0o600))
	if err != nil {
		return err
	}
	defer f.Cleanup()
	zw := gzip.NewWriter(f)
	tw := tar.NewWriter(zw)
	meta, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return err
	}
	if err := add(tw, metaName, int64(len(meta)), strings.NewReader(string(meta))); err != nil {
		return err
	}
	data, err := os.Open(db)
	if err != nil {
		return err
	}
	defer data.Close()
	if err := add(tw, dbName, m.DBSize, data); err != nil {
		return err
	}
	if err := tw.Close(); err != nil {
		return err
	}
	if err := zw.Close(); err != nil {
		return err
	}
	return f.CloseAtomicallyReplace()
}

func add(tw *tar.Writer, name string, size int64, r io.Reader) error {
	if err := tw.WriteHeader(&tar.Header{Name: name, Mode: 0o600, Size: size, Typeflag: tar.TypeReg}); err != nil {
		return err
	}
	_, err := io.CopyN(tw, r, size)
	return err
}

// Read reads what the snapshot file path was taken of; with db set, it
// also writes etcd's snapshot to the file db.
func Read(path, db string) (Meta, error) {
	var m Meta
	f, err := os.Open(path)
	if err != nil {
		return m, err
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		return m, fmt.Errorf("%s is not a kenv snapshot: %w", path, err)
	}
	tr := tar.NewReader(zr)
	h, err := tr.Next()
	if err != nil || h.Name != metaName {
		return m, fmt.Errorf("%s is not a kenv snapshot: it does not start with %s", path, metaName)
	}
	if err := json.NewDecoder(tr).Decode(&m); err != nil {
		return m, fmt.Errorf("%s: %w", path, err)
	}
	if db == "" {
		return m, nil
	}
	if h, err = tr.Next(); err != nil || h.Name != dbName {
		return m, fmt.Errorf("%s holds no %s: %v", path, dbName, err)
	}
	out, err := os.OpenFile(db, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return m, err
	}
	if _, err := io.Copy(out, tr); err != nil {
		out.Close()
		return m, fmt.Errorf("%s: %w", path, err)
	}
	return m, out.Close()
}

// A Listed snapshot is one of an environment's, with its file's size.
type Listed struct {
	Meta
	Path string
	Size int64
}

// List lists the snapshots in env's snapshots directory, oldest first.
func List(env layout.Env) ([]Listed, error) {
	entries, err := os.ReadDir(Dir(env))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var list []Listed
	for _, e := range entries {
		if !strings.HasSuffix(e.Name(), Ext) {
			continue
		}
		path := filepath.Join(Dir(env), e.Name())
		m, err := Read(path, "")
		if err != nil {
			return nil, err
		}
		info, err := e.Info()
		if err != nil {
			return nil, err
		}
		list = append(list, Listed{Meta: m, Path: path, Size: info.Size()})
	}
	slices.SortFunc(list, func(a, b Listed) int { return a.Taken.Compare(b.Taken) })
	return list, nil
}

// Check says why the snapshot m should not be restored into an
// environment whose components run as versions: a component that runs
// as another release reads objects another release stored. Components
// only one of the two has do not count.
func Check(m Meta, versions map[string]string) error {
	var differ []string
	for _, name := range slices.Sorted(maps.Keys(m.Versions)) {
		if now, ok := versions[name]; ok && now != m.Versions[name] {
			differ = append(differ, fmt.Sprintf("%s ran %s, runs %s", name, m.Versions[name], now))
		}
	}
	if len(differ) == 0 {
		return nil
	}
	return fmt.Errorf("snapshot %q was taken of other versions: %s. Objects stored by one release may not read back in another; restore it with --force to try anyway, or bring up the versions it was taken of",
		m.Name, strings.Join(differ, "; "))
}
