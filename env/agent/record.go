package agent

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/kenv-dev/kenv/env/process"
)

// paths are where the agent keeps what it knows of one component in dir:
// each component has a directory of its own, so that one environment may
// swap several on the same node.
type paths struct{ dir, component string }

func (p paths) own() string     { return filepath.Join(p.dir, p.component) }
func (p paths) lock() string    { return filepath.Join(p.own(), "agent.lock") }
func (p paths) pid() string     { return filepath.Join(p.own(), "agent.pid") }
func (p paths) record() string  { return filepath.Join(p.own(), "record.json") }
func (p paths) running() string { return filepath.Join(p.own(), "running.json") }
func (p paths) aside() string   { return filepath.Join(p.own(), "aside") }
func (p paths) log() string     { return filepath.Join(p.dir, "logs", p.component+".log") }

// record says a manifest is aside: written, and synced, before the
// manifest moves, and removed once it is back, so that whenever the agent
// dies the manifest can be put back.
type record struct {
	Component string `json:"component"`
	Manifest  string `json:"manifest,omitempty"`
	// Unit is the systemd unit kenv stopped (the kubelet's) instead of a
	// manifest it moved; Saved holds what the unit ran.
	Unit   string      `json:"unit,omitempty"`
	Saved  string      `json:"saved"`
	SHA256 string      `json:"sha256"`
	Mode   fs.FileMode `json:"mode"`
	Time   time.Time   `json:"time"`
}

func digest(b []byte) string {
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// readRecord returns p's record, nil when there is none.
func readRecord(p paths) (*record, error) {
	raw, err := os.ReadFile(p.record())
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var r record
	if err := json.Unmarshal(raw, &r); err != nil {
		return nil, fmt.Errorf("kenv's record %s is damaged (%v): the manifest it put aside is in %s", p.record(), err, p.aside())
	}
	return &r, nil
}

// content is the manifest as it was put aside: the saved copy, or the
// manifest itself when the agent died before it left its place; for a
// unit, what it ran.
func (r *record) content() ([]byte, error) {
	for _, path := range []string{r.Saved, r.Manifest} {
		if b, err := os.ReadFile(path); path != "" && err == nil && digest(b) == r.SHA256 {
			return b, nil
		}
	}
	if r.Unit != "" {
		return nil, fmt.Errorf("kenv stopped %s, but %s no longer holds what it ran", r.Unit, r.Saved)
	}
	return nil, fmt.Errorf("kenv put %s aside, but neither %s nor the manifest holds it any more", r.Manifest, r.Saved)
}

// putAside moves the manifest content, read from r.Manifest, aside: the
// record first, then the saved copy, then the manifest leaves. Each step
// is synced before the next, so that whenever the agent dies the record
// finds the manifest in one place or the other. It also finishes the move
// of a record written by an agent that died on the way. A unit is
// stopped instead, once the record and what it ran are saved.
func putAside(p paths, r *record, content []byte) error {
	if err := os.MkdirAll(p.aside(), 0o700); err != nil {
		return err
	}
	raw, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return err
	}
	if err := writeSynced(p.record(), raw, 0o600); err != nil {
		return err
	}
	if saved, err := os.ReadFile(r.Saved); err != nil || !bytes.Equal(saved, content) {
		if err := writeSynced(r.Saved, content, 0o600); err != nil {
			return err
		}
	}
	if r.Unit != "" {
		return stopUnit(r.Unit)
	}
	now, err := os.ReadFile(r.Manifest)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return nil // moved already
	case err != nil:
		return err
	case digest(now) != r.SHA256:
		return fmt.Errorf("%s changed while kenv put it aside; the copy kenv saved is %s: run `kenv agent restore --dir %s`", r.Manifest, r.Saved, p.dir)
	}
	if err := os.Remove(r.Manifest); err != nil {
		return fmt.Errorf("move %s aside: %w", r.Manifest, err)
	}
	return syncDir(filepath.Dir(r.Manifest))
}

// putBack puts the manifest of p's record back (or starts its unit), if
// there is a record, and forgets the record. It leaves a file someone else put in the manifest's
// place, and the saved copy with it.
func putBack(p paths) error {
	r, err := readRecord(p)
	if err != nil || r == nil {
		return err
	}
	if r.Unit != "" {
		// Started again whether or not someone did already.
		if err := startUnit(r.Unit); err != nil {
			return fmt.Errorf("start %s again: %w", r.Unit, err)
		}
		return forget(p, r)
	}
	back := false
	if now, err := os.ReadFile(r.Manifest); err == nil {
		if digest(now) != r.SHA256 {
			return fmt.Errorf("%s is back already, not as kenv put it aside: kenv left it as it is; the manifest kenv put aside is in %s", r.Manifest, r.Saved)
		}
		back = true // the agent died after putting it back
	} else if !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	if !back {
		content, err := r.content()
		if err != nil {
			return err
		}
		tmp := filepath.Join(filepath.Dir(r.Manifest), "."+filepath.Base(r.Manifest)+".kenv")
		if err := writeFile(tmp, content, r.Mode.Perm()); err != nil {
			return fmt.Errorf("put %s back: %w", r.Manifest, err)
		}
		// A file put in the manifest's place meanwhile is not replaced.
		if err := os.Link(tmp, r.Manifest); err != nil {
			os.Remove(tmp)
			if errors.Is(err, fs.ErrExist) {
				return fmt.Errorf("%s is back already, not as kenv put it aside: kenv left it as it is; the manifest kenv put aside is in %s", r.Manifest, r.Saved)
			}
			return fmt.Errorf("put %s back: %w", r.Manifest, err)
		}
		if err := os.Remove(tmp); err != nil {
			return err
		}
		if err := syncDir(filepath.Dir(r.Manifest)); err != nil {
			return err
		}
	}
	return forget(p, r)
}

// forget removes r, once what it put aside is back, with what it saved.
func forget(p paths, r *record) error {
	for _, path := range []string{r.Saved, p.running(), p.record()} {
		if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return err
		}
	}
	return syncDir(p.own())
}

// writeSynced replaces path with data, synced with its directory.
func writeSynced(path string, data []byte, perm fs.FileMode) error {
	tmp := filepath.Join(filepath.Dir(path), "."+filepath.Base(path)+".kenv")
	if err := writeFile(tmp, data, perm); err != nil {
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		return err
	}
	return syncDir(filepath.Dir(path))
}

// writeFile writes data to a new file at path and syncs it.
func writeFile(path string, data []byte, perm fs.FileMode) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, perm)
	if err != nil {
		return err
	}
	_, err = f.Write(data)
	if err == nil {
		err = f.Chmod(perm) // O_CREATE's mode is masked by the umask
	}
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(path)
	}
	return err
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// running lists the component's processes as the agent last saw them, so
// that a later restore stops those an agent that died left behind.
type running struct {
	Processes []process.ID `json:"processes"`
}

func writeRunning(p paths, ids []process.ID) error {
	raw, err := json.Marshal(running{Processes: ids})
	if err != nil {
		return err
	}
	return writeSynced(p.running(), raw, 0o600)
}

func readRunning(p paths) []process.ID {
	raw, err := os.ReadFile(p.running())
	if err != nil {
		return nil
	}
	var r running
	_ = json.Unmarshal(raw, &r)
	return r.Processes
}
