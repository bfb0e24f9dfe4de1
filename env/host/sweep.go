package host

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"

	"github.com/hashicorp/go-multierror"
	"github.com/moby/sys/mountinfo"
	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// Node names what one environment's node holds on the machine.
type Node struct {
	// Dir holds the runtime's root and state, the kubelet's root and the
	// pods' network namespaces; everything mounted under it is the node's.
	Dir string
	// Transient are directories under Dir emptied at every sweep: the
	// runtime's state, the pod IPs handed out.
	Transient []string
	// Socket is the runtime's; its shims name it on their command line.
	Socket string
	// CgroupRoot is where the kubelet puts the pods, such as "/kenv-node".
	CgroupRoot string
	// Bridge is the pods' bridge.
	Bridge string
	// Record is the file Take wrote.
	Record string
}

// Sweep removes what the node left once the kubelet and the runtime have
// stopped, or died: the runtime's shims and the containers they ran, the
// mounts under the node's directory (pod network namespaces, volumes,
// root filesystems), the bridge, the cgroups, the transient directories;
// then it restores the machine as recorded. It goes on past a failure
// and reports them all.
func Sweep(n Node) error {
	var errs *multierror.Error
	errs = multierror.Append(errs, killShims(n.Socket))
	if n.CgroupRoot != "" {
		errs = multierror.Append(errs, RemoveCgroup(n.CgroupRoot))
	}
	errs = multierror.Append(errs, unmountUnder(n.Dir))
	if link, err := netlink.LinkByName(n.Bridge); err == nil {
		if err := netlink.LinkDel(link); err != nil {
			errs = multierror.Append(errs, fmt.Errorf("delete bridge %s: %w", n.Bridge, err))
		}
	}
	for _, dir := range n.Transient {
		errs = multierror.Append(errs, os.RemoveAll(dir))
	}
	errs = multierror.Append(errs, Restore(n.Record))
	return errs.ErrorOrNil()
}

// killShims kills the runtime's shims that outlived it: their containers
// die with them.
func killShims(socket string) error {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return err
	}
	want := []byte("\x00-address\x00" + socket + "\x00")
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		cmdline, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if err == nil && bytes.Contains(append(cmdline, 0), want) {
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
	}
	return nil
}

// unmountUnder unmounts everything mounted under dir, deepest first.
func unmountUnder(dir string) error {
	// The kernel lists mount points with their links resolved.
	if real, err := filepath.EvalSymlinks(dir); err == nil {
		dir = real
	}
	mounts, err := mountinfo.GetMounts(mountinfo.PrefixFilter(dir))
	if err != nil {
		return err
	}
	slices.SortFunc(mounts, func(a, b *mountinfo.Info) int {
		return strings.Count(b.Mountpoint, "/") - strings.Count(a.Mountpoint, "/")
	})
	var errs *multierror.Error
	for _, m := range mounts {
		err := unix.Unmount(m.Mountpoint, unix.MNT_DETACH)
		if err != nil && !errors.Is(err, unix.EINVAL) && !errors.Is(err, unix.ENOENT) {
			errs = multierror.Append(errs, fmt.Errorf("unmount %s: %w", m.Mountpoint, err))
		}
	}
	return errs.ErrorOrNil()
}
