package ns

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"

	"github.com/moby/sys/mountinfo"
	"github.com/moby/sys/reexec"
	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// childName is the argv[0] under which kenv runs as the child that makes
// a node's namespaces; childReady is the line it writes once they are
// set up.
const (
	childName  = "kenv-ns-make"
	childReady = "ready"
)

func init() { reexec.Register(childName, child) }

// child runs in the node's new namespaces: os.Args are its name, Dir and
// the Private directories. It sets them up, says so, and exits when Make
// closes its stdin, once Make has pinned them.
func child() {
	if err := setUpInside(Node{Dir: os.Args[1], Private: os.Args[2:]}); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	fmt.Println(childReady)
	_, _ = io.Copy(io.Discard, os.Stdin)
	os.Exit(0)
}

func setUpInside(n Node) error {
	if err := unix.Mount("", "/", "", unix.MS_REC|unix.MS_SLAVE, ""); err != nil {
		return fmt.Errorf("make the node's mounts slaves of the machine's: %w", err)
	}
	if err := detachNamespaceFiles(); err != nil {
		return err
	}
	for _, s := range shadows(n.Private) {
		if err := n.shadow(s.parent, s.private); err != nil {
			return fmt.Errorf("shadow %s: %w", s.parent, err)
		}
	}
	lo, err := netlink.LinkByName("lo")
	if err == nil {
		err = netlink.LinkSetUp(lo)
	}
	if err != nil {
		return fmt.Errorf("set lo up: %w", err)
	}
	// /proc/sys/net is the network namespace's of the process that opens it.
	if err := os.WriteFile("/proc/sys/net/ipv4/ip_forward", []byte("1\n"), 0o644); err != nil {
		return fmt.Errorf("set net.ipv4.ip_forward: %w", err)
	}
	return nil
}

// detachNamespaceFiles detaches the nsfs mounts the node's mount
// namespace was copied with: other nodes' pins would otherwise keep those
// nodes' namespaces alive as long as this one.
func detachNamespaceFiles() error {
	mounts, err := mountinfo.GetMounts(mountinfo.FSTypeFilter("nsfs"))
	if err != nil {
		return err
	}
	for _, m := range mounts {
		if err := unix.Unmount(m.Mountpoint, unix.MNT_DETACH); err != nil && !errors.Is(err, unix.EINVAL) && !errors.Is(err, unix.ENOENT) {
			return fmt.Errorf("detach %s: %w", m.Mountpoint, err)
		}
	}
	return nil
}

// A shadowed parent and the Private directories below it.
type shadowed struct {
	parent  string
	private []string
}

// shadows are the parents to shadow, shallowest first, so that one below
// another is shadowed once the other has put it back. A Private
// directory below another is part of that one's copy.
func shadows(private []string) []shadowed {
	var paths []string
	for _, p := range private {
		paths = append(paths, filepath.Clean(p))
	}
	sort.Strings(paths)
	paths = slices.Compact(paths)
	byParent := map[string][]string{}
	var parents []string
	for i, p := range paths {
		if slices.ContainsFunc(paths[:i], func(q string) bool { return under(p, q) }) {
			continue
		}
		parent := existingAncestor(p)
		if _, ok := byParent[parent]; !ok {
			parents = append(parents, parent)
		}
		byParent[parent] = append(byParent[parent], p)
	}
	sort.SliceStable(parents, func(i, j int) bool {
		return strings.Count(parents[i], "/") < strings.Count(parents[j], "/")
	})
	var out []shadowed
	for _, parent := range parents {
		out = append(out, shadowed{parent, byParent[parent]})
	}
	return out
}

// under reports whether p lies strictly below dir.
func under(p, dir string) bool { return strings.HasPrefix(p, dir+"/") }

// existingAncestor is the deepest directory above p that exists.
func existingAncestor(p string) string {
	for dir := filepath.Dir(p); ; dir = filepath.Dir(dir) {
		if st, err := os.Stat(dir); (err == nil && st.IsDir()) || dir == "/" {
			return dir
		}
	}
}

// shadow mounts a tmpfs over parent with its entries put back, and each
// of private, below it, bound from the node's copy (see the package doc).
func (n Node) shadow(parent string, private []string) error {
	if parent == "/" {
		return errors.New("the nearest directory above it on the machine is /, which cannot be shadowed; make its parent first")
	}
	var st unix.Stat_t
	if err := unix.Stat(parent, &st); err != nil {
		return err
	}
	stage := n.stage()
	if err := unix.Mount(parent, stage, "", unix.MS_BIND|unix.MS_REC, ""); err != nil {
		return fmt.Errorf("bind to %s: %w", stage, err)
	}
	// The stage may lie below parent, hidden once the tmpfs is on it: it
	// is reached, and detached, through this descriptor.
	fd, err := unix.Open(stage, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		_ = unix.Unmount(stage, unix.MNT_DETACH)
		return err
	}
	defer unix.Close(fd)
	staged := fmt.Sprintf("/proc/self/fd/%d", fd)
	defer unix.Unmount(staged, unix.MNT_DETACH)
	entries, err := os.ReadDir(staged)
	if err != nil {
		return err
	}
	opts := fmt.Sprintf("mode=%o,uid=%d,gid=%d", st.Mode&0o7777, st.Uid, st.Gid)
	if err := unix.Mount("tmpfs", parent, "tmpfs", unix.MS_NOSUID|unix.MS_NODEV, opts); err != nil {
		return fmt.Errorf("mount a tmpfs: %w", err)
	}
	for _, e := range entries {
		to := filepath.Join(parent, e.Name())
		if slices.ContainsFunc(private, func(p string) bool { return p == to || under(p, to) }) {
			continue
		}
		if err := putBack(filepath.Join(staged, e.Name()), to, e.Type()); err != nil {
			return err
		}
	}
	for _, p := range private {
		if err := os.MkdirAll(p, 0o755); err != nil {
			return err
		}
		if err := unix.Mount(n.copyOf(p), p, "", unix.MS_BIND|unix.MS_REC, ""); err != nil {
			return fmt.Errorf("bind the node's %s: %w", p, err)
		}
	}
	return nil
}

// putBack recreates in the tmpfs the machine's entry from, of type typ, at to.
func putBack(from, to string, typ os.FileMode) error {
	switch {
	case typ&os.ModeSymlink != 0:
		target, err := os.Readlink(from)
		if err != nil {
			return err
		}
		if err := os.Symlink(target, to); err != nil {
			return err
		}
		var st unix.Stat_t
		if err := unix.Lstat(from, &st); err == nil {
			_ = unix.Lchown(to, int(st.Uid), int(st.Gid))
		}
		return nil
	case typ.IsDir():
		if err := os.Mkdir(to, 0o755); err != nil {
			return err
		}
	default:
		f, err := os.OpenFile(to, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
		if err != nil {
			return err
		}
		f.Close()
	}
	if err := unix.Mount(from, to, "", unix.MS_BIND|unix.MS_REC, ""); err != nil {
		return fmt.Errorf("put back %s: %w", to, err)
	}
	return nil
}
