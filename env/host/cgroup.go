package host

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/hashicorp/go-multierror"
	"github.com/moby/sys/mountinfo"

	"github.com/kenv-dev/kenv/env/process"
)

// cgroupMounts are the mount points of the cgroup hierarchies: one for
// cgroup v2, one per controller set for v1.
func cgroupMounts() ([]*mountinfo.Info, error) {
	return mountinfo.GetMounts(func(m *mountinfo.Info) (skip, stop bool) {
		return m.FSType != "cgroup" && m.FSType != "cgroup2", false
	})
}

// MakeCgroup makes the cgroup root (such as "/kenv-node") the kubelet
// puts its pods under, in every hierarchy. A v1 cpuset starts with the
// CPUs and memory nodes of its parent; a v2 cgroup hands its controllers
// down.
func MakeCgroup(root string) error {
	mounts, err := cgroupMounts()
	if err != nil {
		return err
	}
	if len(mounts) == 0 {
		return errors.New("no cgroup hierarchy is mounted")
	}
	for _, m := range mounts {
		dir := filepath.Join(m.Mountpoint, root)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return fmt.Errorf("create cgroup %s: %w", dir, err)
		}
		if m.FSType == "cgroup2" {
			if err := delegate(m.Mountpoint, dir); err != nil {
				return err
			}
			continue
		}
		if strings.Contains(m.VFSOptions, "cpuset") {
			for _, f := range []string{"cpuset.cpus", "cpuset.mems"} {
				v, err := os.ReadFile(filepath.Join(m.Mountpoint, f))
				if err == nil {
					err = os.WriteFile(filepath.Join(dir, f), v, 0o644)
				}
				if err != nil {
					return fmt.Errorf("cpuset of %s: %w", dir, err)
				}
			}
		}
	}
	return nil
}

// delegate enables in dir the controllers its parent under mount offers.
func delegate(mount, dir string) error {
	raw, err := os.ReadFile(filepath.Join(mount, "cgroup.subtree_control"))
	if err != nil {
		return err
	}
	var enable []string
	for _, c := range strings.Fields(string(raw)) {
		enable = append(enable, "+"+c)
	}
	if len(enable) == 0 {
		return nil
	}
	if err := os.WriteFile(filepath.Join(dir, "cgroup.subtree_control"), []byte(strings.Join(enable, " ")), 0o644); err != nil {
		return fmt.Errorf("enable the controllers of %s: %w", dir, err)
	}
	return nil
}

// RemoveCgroup kills what still runs in the cgroup root, in every
// hierarchy, and removes it with the cgroups under it.
func RemoveCgroup(root string) error {
	mounts, err := cgroupMounts()
	if err != nil {
		return err
	}
	var dirs []string
	for _, m := range mounts {
		top := filepath.Join(m.Mountpoint, root)
		_ = filepath.WalkDir(top, func(path string, d fs.DirEntry, err error) error {
			if err == nil && d.IsDir() {
				dirs = append(dirs, path)
			}
			return nil
		})
	}
	var pids []int
	for _, dir := range dirs {
		pids = append(pids, cgroupPids(dir)...)
	}
	slices.Sort(pids)
	for _, pid := range slices.Compact(pids) {
		_ = syscall.Kill(pid, syscall.SIGKILL)
	}
	// Deepest first; a cgroup empties a moment after its last process
	// is reaped.
	slices.SortFunc(dirs, func(a, b string) int { return strings.Count(b, "/") - strings.Count(a, "/") })
	var errs *multierror.Error
	for _, dir := range dirs {
		var err error
		process.WaitFor(context.Background(), 5*time.Second, func() bool {
			err = os.Remove(dir)
			return !errors.Is(err, syscall.EBUSY)
		})
		if err != nil && !errors.Is(err, os.ErrNotExist) {
			errs = multierror.Append(errs, fmt.Errorf("remove cgroup %s: %w", dir, err))
		}
	}
	return errs.ErrorOrNil()
}

func cgroupPids(dir string) []int {
	raw, err := os.ReadFile(filepath.Join(dir, "cgroup.procs"))
	if err != nil {
		return nil
	}
	var pids []int
	for _, f := range strings.Fields(string(raw)) {
		if pid, err := strconv.Atoi(f); err == nil {
			pids = append(pids, pid)
		}
	}
	return pids
}
