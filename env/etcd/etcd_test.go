package etcd

import (
	"context"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
)

// freeAddr is a loopback address nothing listens on.
func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// assertFree fails unless something can listen on each of addrs.
func assertFree(t *testing.T, addrs ...string) {
	t.Helper()
	for _, addr := range addrs {
		l, err := net.Listen("tcp", addr)
		if err != nil {
			t.Errorf("%s is still taken: %v", addr, err)
			continue
		}
		l.Close()
	}
}

func config(t *testing.T, dataDir string) Config {
	t.Helper()
	return Config{
		ClientURL:    "http://" + freeAddr(t),
		PeerURL:      "http://" + freeAddr(t),
		DataDir:      dataDir,
		LogPath:      filepath.Join(t.TempDir(), "etcd.log"),
		StartTimeout: 30 * time.Second,
	}
}

func client(t *testing.T, url string) *clientv3.Client {
	t.Helper()
	c, err := clientv3.New(clientv3.Config{Endpoints: []string{url}, DialTimeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func TestDataSurvivesRestart(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	dataDir := filepath.Join(t.TempDir(), "etcd")
	c := config(t, dataDir)
	s, err := Start(ctx, c)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := client(t, c.ClientURL).Put(ctx, "/registry/kenv", "kept"); err != nil {
		s.Close()
		t.Fatalf("put: %v", err)
	}
	s.Close()
	// Close returns once etcd no longer listens.
	assertFree(t, strings.TrimPrefix(c.ClientURL, "http://"), strings.TrimPrefix(c.PeerURL, "http://"))

	// Other ports, the same data.
	again := config(t, dataDir)
	s, err = Start(ctx, again)
	if err != nil {
		t.Fatalf("start again on %s: %v", dataDir, err)
	}
	defer s.Close()
	resp, err := client(t, again.ClientURL).Get(ctx, "/registry/kenv")
	if err != nil {
		t.Fatalf("get: %v", err)
	}
	if len(resp.Kvs) != 1 || string(resp.Kvs[0].Value) != "kept" {
		t.Errorf("after a restart /registry/kenv is %v, want kept", resp.Kvs)
	}
	select {
	case err := <-s.Err():
		t.Errorf("the running server reports %v", err)
	default:
	}
}

// TestFailedStart starts etcd where it cannot start, or not in time: Start
// fails and leaves no listener and no lock on the data directory, so that
// the next start succeeds.
func TestFailedStart(t *testing.T) {
	tests := []struct {
		name string
		// change spoils the config; it returns what must be closed after
		// the failed start.
		change func(t *testing.T, c *Config) (closeAfter func())
		want   string
	}{{
		name: "client port taken",
		change: func(t *testing.T, c *Config) func() {
			return take(t, &c.ClientURL)
		},
		want: "address already in use",
	}, {
		name: "peer port taken",
		change: func(t *testing.T, c *Config) func() {
			return take(t, &c.PeerURL)
		},
		want: "address already in use",
	}, {
		name: "not ready in time",
		change: func(t *testing.T, c *Config) func() {
			// A single member elects itself in 30 ms at the soonest.
			c.StartTimeout = time.Nanosecond
			return func() {}
		},
		want: "not ready after 1ns; see ",
	}, {
		name: "client URL unparsable",
		change: func(t *testing.T, c *Config) func() {
			c.ClientURL = "http://[::1"
			return func() {}
		},
		want: "etcd client URL",
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			c := config(t, filepath.Join(t.TempDir(), "etcd"))
			good := c
			closeAfter := tt.change(t, &c)
			s, err := Start(ctx, c)
			closeAfter()
			if err == nil {
				s.Close()
				t.Fatalf("Start succeeded")
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %q does not say %q", err, tt.want)
			}
			assertFree(t, strings.TrimPrefix(good.ClientURL, "http://"), strings.TrimPrefix(good.PeerURL, "http://"))

			s, err = Start(ctx, good)
			if err != nil {
				t.Fatalf("start after the failed one: %v", err)
			}
			s.Close()
		})
	}
}

// take listens on the address of the URL at *u and returns the closer.
func take(t *testing.T, u *string) func() {
	t.Helper()
	l, err := net.Listen("tcp", strings.TrimPrefix(*u, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	return func() { l.Close() }
}

// TestSnapshotRestore: a snapshot taken while etcd serves holds what was
// there; restored, it replaces what came after, with a revision past any
// seen before; Rollback puts the replaced data back, as the next up does
// after a restore kenv did not finish; after Commit it stays.
func TestSnapshotRestore(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	dataDir := filepath.Join(t.TempDir(), "etcd")
	c := config(t, dataDir)
	s, err := Start(ctx, c)
	if err != nil {
		t.Fatal(err)
	}
	cl := client(t, c.ClientURL)
	for _, k := range []string{"/registry/a", "/registry/b"} {
		if _, err := cl.Put(ctx, k, "saved"); err != nil {
			t.Fatal(err)
		}
	}
	db := filepath.Join(t.TempDir(), "etcd.db")
	f, err := os.Create(db)
	if err != nil {
		t.Fatal(err)
	}
	saved, err := Save(ctx, c.ClientURL, f)
	f.Close()
	if err != nil {
		t.Fatal(err)
	}
	if saved.Keys != 2 || saved.Size == 0 || saved.Revision < 3 {
		t.Errorf("saved %+v, want 2 keys", saved)
	}
	if _, err := cl.Delete(ctx, "/registry/a"); err != nil {
		t.Fatal(err)
	}
	after, err := cl.Put(ctx, "/registry/later", "after the snapshot")
	if err != nil {
		t.Fatal(err)
	}
	s.Close()

	keys := func(c Config) (map[string]bool, int64) {
		t.Helper()
		s, err := Start(ctx, c)
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		resp, err := client(t, c.ClientURL).Get(ctx, "/registry/", clientv3.WithPrefix())
		if err != nil {
			t.Fatal(err)
		}
		got := map[string]bool{}
		for _, kv := range resp.Kvs {
			got[string(kv.Key)] = true
		}
		return got, resp.Header.Revision
	}
	again := config(t, dataDir)
	if err := Restore(db, dataDir, again.PeerURL); err != nil {
		t.Fatal(err)
	}
	got, rev := keys(again)
	if !got["/registry/a"] || !got["/registry/b"] || got["/registry/later"] {
		t.Errorf("restored keys %v, want a and b", got)
	}
	if rev <= after.Header.Revision {
		t.Errorf("restored revision %d, not past %d seen before", rev, after.Header.Revision)
	}
	// Not committed: what the restore replaced comes back.
	if back, err := Rollback(dataDir); err != nil || !back {
		t.Fatalf("rollback: %v, %v", back, err)
	}
	if got, _ := keys(config(t, dataDir)); got["/registry/a"] || !got["/registry/later"] {
		t.Errorf("keys after the rollback %v, want those before the restore", got)
	}
	if back, err := Rollback(dataDir); err != nil || back {
		t.Errorf("a second rollback: %v, %v", back, err)
	}
	// Committed: it stays.
	if err := Restore(db, dataDir, again.PeerURL); err != nil {
		t.Fatal(err)
	}
	if err := Commit(dataDir); err != nil {
		t.Fatal(err)
	}
	if back, err := Rollback(dataDir); err != nil || back {
		t.Errorf("rollback after commit: %v, %v", back, err)
	}
	if got, _ := keys(config(t, dataDir)); !got["/registry/a"] || got["/registry/later"] {
		t.Errorf("keys after the commit %v, want the snapshot's", got)
	}
	entries, _ := os.ReadDir(dataDir)
	if len(entries) != 1 || entries[0].Name() != "member" {
		t.Errorf("the data directory holds %v, want member alone", entries)
	}
}
