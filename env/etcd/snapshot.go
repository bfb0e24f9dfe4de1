package etcd

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/etcdutl/v3/snapshot"
	"go.uber.org/zap"
)

// Saved says what a snapshot holds.
type Saved struct {
	// Revision is etcd's revision when it was taken; Keys how many keys
	// it holds then.
	Revision, Keys int64
	// Size is the snapshot's size in bytes (etcd's database file).
	Size int64
}

// Save writes etcd's own snapshot of the member at clientURL to w, taken
// while it serves: nothing stops.
func Save(ctx context.Context, clientURL string, w io.Writer) (Saved, error) {
	c, err := clientv3.New(clientv3.Config{Endpoints: []string{clientURL}, DialTimeout: 5 * time.Second, Logger: zap.NewNop()})
	if err != nil {
		return Saved{}, fmt.Errorf("etcd at %s: %w", clientURL, err)
	}
	defer c.Close()
	// The count first: the snapshot holds at least what it counts.
	count, err := c.Get(ctx, "", clientv3.WithPrefix(), clientv3.WithCountOnly())
	if err != nil {
		return Saved{}, fmt.Errorf("etcd at %s: %w", clientURL, err)
	}
	rc, err := c.Snapshot(ctx)
	if err != nil {
		return Saved{}, fmt.Errorf("etcd snapshot: %w", err)
	}
	defer rc.Close()
	n, err := io.Copy(w, rc)
	if err != nil {
		return Saved{}, fmt.Errorf("etcd snapshot: %w", err)
	}
	return Saved{Revision: count.Header.Revision, Keys: count.Count, Size: n}, nil
}

// The data of a member lives in dataDir/member. A restore makes the new
// one beside it (restoring), then moves the old one to previous and the
// new one in its place; the old one stays until Commit. Every rename is
// within dataDir, so each step is atomic, and whatever kills kenv between
// two of them, Rollback finds either the old data or the old data aside.
const (
	memberDir   = "member"
	previousDir = "member.before-restore"
	restoring   = "restoring"
)

// revisionBump moves the restored member's revision past any a client
// may have seen before the restore, and marks the revisions between as
// compacted, so that a watch from before fails instead of missing
// changes (etcd's advice for restores under Kubernetes).
const revisionBump = 1_000_000_000

// Restore replaces the data in dataDir by the snapshot in the file db,
// for the member kenv starts there at peerURL. The data it replaces is
// kept until Commit; Rollback puts it back.
func Restore(db, dataDir, peerURL string) error {
	if _, err := Rollback(dataDir); err != nil {
		return err
	}
	work := filepath.Join(dataDir, restoring)
	if err := os.RemoveAll(work); err != nil {
		return err
	}
	err := snapshot.NewV3(zap.NewNop()).Restore(snapshot.RestoreConfig{
		SnapshotPath:        db,
		Name:                memberName,
		OutputDataDir:       work,
		PeerURLs:            []string{peerURL},
		InitialCluster:      memberName + "=" + peerURL,
		InitialClusterToken: "etcd-cluster", // embed's default
		RevisionBump:        revisionBump,
		MarkCompacted:       true,
	})
	if err != nil {
		os.RemoveAll(work)
		return fmt.Errorf("restore the etcd snapshot %s: %w", db, err)
	}
	current := filepath.Join(dataDir, memberDir)
	if err := os.Rename(current, filepath.Join(dataDir, previousDir)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	if err := os.Rename(filepath.Join(work, memberDir), current); err != nil {
		_, _ = Rollback(dataDir)
		return err
	}
	return os.RemoveAll(work)
}

// Commit drops the data a restore replaced, once the restored data
// serves as it should.
func Commit(dataDir string) error {
	return os.RemoveAll(filepath.Join(dataDir, previousDir))
}

// Rollback puts back the data a restore that was not committed replaced,
// and reports whether there was such a restore. It does nothing after a
// Commit, or without a restore: up runs it before etcd starts, so that a
// restore kenv did not finish leaves the data as it was before it.
func Rollback(dataDir string) (bool, error) {
	if err := os.RemoveAll(filepath.Join(dataDir, restoring)); err != nil {
		return false, err
	}
	previous := filepath.Join(dataDir, previousDir)
	if _, err := os.Stat(previous); errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	current := filepath.Join(dataDir, memberDir)
	// Aside first, then away: a kill between the two leaves previous.
	aside := filepath.Join(dataDir, restoring)
	if err := os.Rename(current, aside); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return false, err
	}
	if err := os.Rename(previous, current); err != nil {
		return false, err
	}
	return true, os.RemoveAll(aside)
}
