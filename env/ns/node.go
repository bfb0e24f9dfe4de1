package ns

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"syscall"

	"github.com/hashicorp/go-multierror"
	"github.com/moby/sys/mountinfo"
	"github.com/moby/sys/reexec"
	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// Make makes the node's network and mount namespaces, pinned by files under Dir so
// that they outlive the process that made them; the veth pair (host end Link, a port
// of b and up; node end eth0 with Addr, up), loopback up inside; and the mount
// namespace set up as Private says. Make on a node that exists already (its pins are
// there and valid) does nothing (idempotent: a supervisor restarted finds it).
func Make(n Node, b Bridge) error {
	if err := n.check(b); err != nil {
		return err
	}
	if err := os.MkdirAll(n.Dir, 0o700); err != nil {
		return fmt.Errorf("make node %s: %w", n.Link, err)
	}
	dir, err := filepath.EvalSymlinks(n.Dir)
	if err != nil {
		return fmt.Errorf("make node %s: %w", n.Link, err)
	}
	n.Dir = dir
	if !n.pinned() {
		if err := n.makeNamespaces(); err != nil {
			return fmt.Errorf("make node %s: %w", n.Link, err)
		}
	}
	if err := n.makeLink(b); err != nil {
		return fmt.Errorf("make node %s: %w", n.Link, err)
	}
	return nil
}

// pinned reports whether both pins hold a namespace of their kind.
func (n Node) pinned() bool {
	return isNamespace(n.netPin(), unix.CLONE_NEWNET) && isNamespace(n.mntPin(), unix.CLONE_NEWNS)
}

func isNamespace(path string, kind int) bool {
	f, err := os.Open(path)
	if err != nil {
		return false
	}
	defer f.Close()
	got, err := unix.IoctlRetInt(int(f.Fd()), unix.NS_GET_NSTYPE)
	return err == nil && got == kind
}

// makeNamespaces starts the child that is born in the node's namespaces
// and sets them up, and pins them while it waits.
func (n Node) makeNamespaces() error {
	// Pins that no longer hold a namespace, of a Make that did not finish.
	if err := n.unpin(); err != nil {
		return err
	}
	for _, p := range n.Private {
		if err := os.MkdirAll(n.copyOf(filepath.Clean(p)), 0o755); err != nil {
			return err
		}
	}
	if err := os.MkdirAll(n.stage(), 0o700); err != nil {
		return err
	}
	// The kernel pins a mount namespace only in one it numbered before,
	// lest a namespace hold itself; but since Linux 6.18 each CPU numbers
	// namespaces from a batch of its own, so one made now may come out
	// older than kenv's own (when that is not the machine's first). The
	// CPU kenv's was numbered on numbers after it: if the pin is refused,
	// the child is made again on each CPU in turn.
	cpus, err := allowedCPUs()
	if err != nil {
		return err
	}
	for try := 0; ; try++ {
		cpu := -1
		if try > 0 {
			cpu = cpus[try-1]
		}
		err := n.spawn(cpu)
		if err == nil {
			return os.Remove(n.stage())
		}
		err = errors.Join(err, n.unpin())
		if !errors.Is(err, errNumbered) || try == len(cpus) {
			return err
		}
	}
}

// errNumbered is the kernel's refusal to pin a mount namespace it
// numbered before the one that pins it.
var errNumbered = errors.New("the kernel numbered the node's mount namespace before kenv's")

// spawn starts the child that is born in the node's namespaces and sets
// them up, on cpu unless it is -1, and pins them while it waits.
func (n Node) spawn(cpu int) error {
	if err := n.privatePinDir(); err != nil {
		return err
	}
	for _, pin := range []string{n.netPin(), n.mntPin()} {
		if err := os.WriteFile(pin, nil, 0o444); err != nil {
			return err
		}
	}

	// reexec.Command's child is sent SIGTERM if this thread ends: keep it.
	runtime.LockOSThread()
	var all unix.CPUSet
	if cpu >= 0 {
		// The child's namespaces are numbered on the CPU that clones it.
		var one unix.CPUSet
		one.Set(cpu)
		if err := unix.SchedGetaffinity(0, &all); err != nil {
			runtime.UnlockOSThread()
			return err
		}
		if err := unix.SchedSetaffinity(0, &one); err != nil {
			runtime.UnlockOSThread()
			return err
		}
	}
	cmd := reexec.Command(append([]string{childName, n.Dir}, n.Private...)...)
	cmd.SysProcAttr.Cloneflags = unix.CLONE_NEWNET | unix.CLONE_NEWNS
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	stdin, _ := cmd.StdinPipe()
	stdout, _ := cmd.StdoutPipe()
	started := cmd.Start()
	if cpu >= 0 {
		if err := unix.SchedSetaffinity(0, &all); err != nil {
			// Left locked, the thread ends with this goroutine. The
			// child stays on one CPU for the moment it lives.
			return errors.Join(started, err)
		}
	}
	defer runtime.UnlockOSThread()
	if started != nil {
		return fmt.Errorf("start the child that makes the namespaces: %w", started)
	}
	line, _ := bufio.NewReader(stdout).ReadString('\n')
	if line != childReady+"\n" {
		_ = stdin.Close()
		err := cmd.Wait()
		return fmt.Errorf("set up the namespaces: %s (%v)", strings.TrimSpace(stderr.String()), err)
	}
	pid := strconv.Itoa(cmd.Process.Pid)
	pinErr := bind(filepath.Join("/proc", pid, "ns", "net"), n.netPin())
	if pinErr == nil {
		pinErr = bind(filepath.Join("/proc", pid, "ns", "mnt"), n.mntPin())
		if errors.Is(pinErr, unix.EINVAL) {
			pinErr = fmt.Errorf("%w: %w", errNumbered, pinErr)
		}
	}
	_ = stdin.Close()
	if err := cmd.Wait(); err != nil && pinErr == nil {
		pinErr = fmt.Errorf("the child that made the namespaces: %s (%w)", strings.TrimSpace(stderr.String()), err)
	}
	return pinErr
}

// allowedCPUs are the CPUs this thread may run on.
func allowedCPUs() ([]int, error) {
	var set unix.CPUSet
	if err := unix.SchedGetaffinity(0, &set); err != nil {
		return nil, err
	}
	var cpus []int
	for cpu := 0; cpu < len(set)*64; cpu++ {
		if set.IsSet(cpu) {
			cpus = append(cpus, cpu)
		}
	}
	return cpus, nil
}

// privatePinDir makes Dir/ns a private mount, where the kernel lets a
// mount namespace be pinned.
func (n Node) privatePinDir() error {
	dir := filepath.Dir(n.netPin())
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	mounted, err := mountinfo.Mounted(dir)
	if err != nil {
		return err
	}
	if !mounted {
		if err := unix.Mount(dir, dir, "", unix.MS_BIND, ""); err != nil {
			return fmt.Errorf("bind %s on itself: %w", dir, err)
		}
	}
	if err := unix.Mount("", dir, "", unix.MS_PRIVATE, ""); err != nil {
		return fmt.Errorf("make %s a private mount: %w", dir, err)
	}
	return nil
}

func bind(from, to string) error {
	if err := unix.Mount(from, to, "", unix.MS_BIND, ""); err != nil {
		return fmt.Errorf("bind %s on %s: %w", from, to, err)
	}
	return nil
}

// unpin unmounts the pins, then Dir/ns: everything Make mounts on the
// machine.
func (n Node) unpin() error {
	dir := filepath.Dir(n.netPin())
	mounts, err := mountinfo.GetMounts(mountinfo.PrefixFilter(dir))
	if err != nil {
		return err
	}
	// Deepest first, and of mounts on one point the last made first.
	sort.Slice(mounts, func(i, j int) bool {
		if di, dj := strings.Count(mounts[i].Mountpoint, "/"), strings.Count(mounts[j].Mountpoint, "/"); di != dj {
			return di > dj
		}
		return mounts[i].ID > mounts[j].ID
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

// makeLink adds the node's veth, unless its host end is there already.
func (n Node) makeLink(b Bridge) error {
	bridge, err := b.link()
	if err != nil {
		return err
	}
	if bridge == nil {
		return fmt.Errorf("bridge %s is absent: Bridge.Up makes it", b.Name)
	}
	host, err := n.hostLink()
	if err != nil {
		return err
	}
	if host == nil {
		if host, err = n.addVeth(bridge); err != nil {
			return err
		}
	}
	if err := netlink.LinkSetMaster(host, bridge); err != nil {
		return fmt.Errorf("make %s a port of bridge %s: %w", n.Link, b.Name, err)
	}
	if err := netlink.LinkSetUp(host); err != nil {
		return fmt.Errorf("set %s up: %w", n.Link, err)
	}
	return nil
}

// addVeth adds the veth pair, its node end made in the node's namespace,
// addressed and up.
func (n Node) addVeth(bridge netlink.Link) (netlink.Link, error) {
	target, err := netns.GetFromPath(n.netPin())
	if err != nil {
		return nil, err
	}
	defer target.Close()
	veth := &netlink.Veth{
		LinkAttrs:     netlink.LinkAttrs{Name: n.Link, MasterIndex: bridge.Attrs().Index},
		PeerName:      nodeLink,
		PeerNamespace: netlink.NsFd(target),
	}
	if err := netlink.LinkAdd(veth); err != nil {
		return nil, fmt.Errorf("add veth %s: %w", n.Link, err)
	}
	host, err := n.hostLink()
	if err == nil {
		err = n.inside(func(h *netlink.Handle) error {
			eth0, err := h.LinkByName(nodeLink)
			if err != nil {
				return err
			}
			if err := h.AddrReplace(eth0, &netlink.Addr{IPNet: ipNet(n.Addr)}); err != nil {
				return fmt.Errorf("address %s with %s: %w", nodeLink, n.Addr, err)
			}
			return h.LinkSetUp(eth0)
		})
	}
	if err != nil {
		_ = netlink.LinkDel(veth)
		return nil, err
	}
	return host, nil
}

// hostLink is the host's end of the node's veth; nil when absent.
func (n Node) hostLink() (netlink.Link, error) {
	link, err := netlink.LinkByName(n.Link)
	var absent netlink.LinkNotFoundError
	if errors.As(err, &absent) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("link %s: %w", n.Link, err)
	}
	if link.Type() != "veth" {
		return nil, fmt.Errorf("the machine has a link %s that is a %s, not a node's veth", n.Link, link.Type())
	}
	return link, nil
}

// inside runs f with a netlink handle in the node's network namespace.
func (n Node) inside(f func(*netlink.Handle) error) error {
	target, err := netns.GetFromPath(n.netPin())
	if err != nil {
		return fmt.Errorf("node %s's network namespace: %w", n.Link, err)
	}
	defer target.Close()
	h, err := netlink.NewHandleAt(target)
	if err != nil {
		return err
	}
	defer h.Close()
	return f(h)
}

// Route adds or replaces, inside the node, a route to dst via the address via (another node's).
func (n Node) Route(dst netip.Prefix, via netip.Addr) error {
	err := n.inside(func(h *netlink.Handle) error {
		eth0, err := h.LinkByName(nodeLink)
		if err != nil {
			return err
		}
		return h.RouteReplace(&netlink.Route{LinkIndex: eth0.Attrs().Index, Dst: ipNet(dst.Masked()), Gw: via.AsSlice()})
	})
	if err != nil {
		return fmt.Errorf("route %s via %s in node %s: %w", dst, via, n.Link, err)
	}
	return nil
}

// Remove deletes the veth, unmounts the namespace pins (so the namespaces vanish with
// the last process in them — callers kill those first), and everything Make mounted on
// the machine; the node's copies of Private stay, with the rest of Dir (see the
// package doc). No error when already removed. It works from a fresh process that
// only has the Node value.
func Remove(n Node) error {
	var errs *multierror.Error
	host, err := n.hostLink()
	if err == nil && host != nil {
		err = netlink.LinkDel(host)
	}
	if err != nil {
		errs = multierror.Append(errs, fmt.Errorf("delete veth %s: %w", n.Link, err))
	}
	dir, err := filepath.EvalSymlinks(n.Dir)
	switch {
	case errors.Is(err, os.ErrNotExist):
		return errs.ErrorOrNil()
	case err != nil:
		return multierror.Append(errs, fmt.Errorf("remove node %s: %w", n.Link, err))
	}
	n.Dir = dir
	if err := n.unpin(); err != nil {
		errs = multierror.Append(errs, fmt.Errorf("remove node %s: %w", n.Link, err))
	}
	// A stage left by a Make killed midway; only ever an empty directory here.
	if err := os.Remove(n.stage()); err != nil && !errors.Is(err, os.ErrNotExist) && !errors.Is(err, syscall.ENOTEMPTY) {
		errs = multierror.Append(errs, err)
	}
	return errs.ErrorOrNil()
}
