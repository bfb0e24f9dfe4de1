// Package ns gives a node of an environment its own network and mount
// namespaces on this machine, and a bridge per environment that links the
// nodes to the host, so that several nodes (containerd, the kubelet,
// kube-proxy) run side by side without a container runtime of their own.
//
// # Pins
//
// A node's namespaces are pinned by files under its Dir, so that they
// outlive the process that made them and a fresh process finds them:
// Dir/ns/net and Dir/ns/mnt are bind mounts of the namespaces' nsfs files.
// The kernel refuses to pin a mount namespace on a shared mount, where the
// pin would propagate into the namespace itself, so Dir/ns is first a
// private bind mount of itself, as unshare(1) does. These are the only
// mounts Make makes on the machine; Remove undoes them.
//
// # Making the namespaces
//
// Go cannot enter a mount namespace from a process with several threads,
// so Make starts a child, kenv itself again (github.com/moby/sys/reexec,
// which is why main calls reexec.Init first), born in a new network and a
// new mount namespace. The child, the one process ever to work inside the
// new mount namespace from within:
//   - makes every mount in it a slave of the host's (MS_REC|MS_SLAVE on /):
//     the host's mounts still show inside, the node's never show on the
//     host, and the namespace vanishes with its pins and processes;
//   - detaches the nsfs mounts it inherited (other nodes' pins, ip-netns
//     files), so that a node never holds another's namespaces alive;
//   - sets up the Private directories (below);
//   - sets lo up and net.ipv4.ip_forward=1, a setting of the node's network
//     namespace only: pods' traffic between nodes is routed by the nodes.
//
// It then says it is ready, Make pins /proc/<child>/ns/{net,mnt}, and the
// child exits. Make then adds the veth pair: the host's end, Link, a port
// of the bridge; the node's end, eth0, made directly in the node's
// namespace with the node's address. The node has no default route: it
// reaches its bridge's subnet and what Route adds, nothing else.
//
// # Private directories
//
// A Private directory is an empty directory of the node's inside it,
// whether or not it exists on the machine, and nothing is created on the
// machine outside Dir. A bind mount needs a mount point, which the
// machine may lack, so inside the node the parent of each Private
// directory (the deepest ancestor that exists on the machine, such as
// /var/lib for /var/lib/kubelet) is shadowed: it is bound recursively to a
// staging point (Dir/stage), a tmpfs is mounted over it, each of its
// entries on the machine is put back (directories and files as recursive
// bind mounts of the staging point's, so mounts under them show too,
// symlinks recreated with the same target), then each Private directory
// is made in the tmpfs and bound from the node's own copy,
// Dir/private/<path>, and the staging point is detached. So the node sees
// the machine's /var/lib/dpkg, /run/systemd (and with it an
// /etc/resolv.conf that links there) and Dir itself when Dir lies under a
// shadowed parent. What the machine adds to a shadowed parent after Make
// does not show in the node (mounts made inside the entries put back do);
// what the node writes directly into a shadowed parent stays in its tmpfs
// and vanishes with it. Make refuses a Private directory directly under /.
//
// # Running inside
//
// Place starts processes with `nsenter --net=Dir/ns/net --mount=Dir/ns/mnt
// --` in front of their argv (util-linux), which execs the program in the
// node: its pid is the host's (the pid namespace is shared), and its
// working directory is /. Dial enters only the network namespace, on a
// locked OS thread of its own, to make the socket: a socket stays in the
// namespace it was made in.
//
// # Remove
//
// Remove deletes the veth and unmounts the pins and Dir/ns; the namespaces
// vanish with the last process in them, which the caller kills first.
// Remove leaves the files under Dir: the node's copies of the Private
// directories (Dir/private) and the empty pin files. Nothing is mounted
// under Dir on the machine afterwards, so removing Dir is the caller's
// choice. A namespace copied from the host's after Make (a container or
// service started then with a mount namespace of its own) holds a copy of
// the pins and so the node's namespaces alive until it ends; the host's
// links, routes and mounts are as before Make nonetheless.
package ns

import (
	"fmt"
	"net"
	"net/netip"
	"path/filepath"
	"strings"
)

// Bridge is an environment's bridge on the host: the nodes' veths are its
// ports, and the host's address on it is the nodes' way to the host
// (kube-apiserver listens there).
type Bridge struct {
	Name string       // at most 15 bytes (IFNAMSIZ), e.g. "kenv-demo"
	Addr netip.Prefix // the host's address and the nodes' subnet, e.g. 172.30.0.1/24
}

// Node is one node's namespaces and its link to the bridge.
type Node struct {
	// Dir is the node's own directory. Make keeps there the files that
	// hold its namespaces ("ns/net", "ns/mnt") and the node's own copies
	// of the Private directories.
	Dir string
	// Link is the name of the host's end of the node's veth (≤15 bytes);
	// inside the node its end is called eth0.
	Link string
	// Addr is the node's address on the bridge, in the bridge's subnet.
	Addr netip.Prefix
	// Private are directories of the machine that are the node's own
	// inside it — programs with fixed paths such as /var/lib/kubelet,
	// /var/log/pods, /var/log/containers, /var/lib/cni, /run/containerd,
	// /run/mount: inside the node each is an empty directory of the node's
	// (under Dir), whether or not it exists on the machine, and nothing is
	// created or changed on the machine's own filesystem outside Dir.
	Private []string
}

// nodeLink is the name of the node's end of its veth, inside the node.
const nodeLink = "eth0"

// maxLinkName is IFNAMSIZ less its terminating NUL.
const maxLinkName = 15

// netPin and mntPin are the files that hold the node's namespaces.
func (n Node) netPin() string { return filepath.Join(n.Dir, "ns", "net") }
func (n Node) mntPin() string { return filepath.Join(n.Dir, "ns", "mnt") }

// copyOf is the node's own copy of the Private directory p.
func (n Node) copyOf(p string) string { return filepath.Join(n.Dir, "private", p) }

// stage is where the child binds a parent it shadows while it does.
func (n Node) stage() string { return filepath.Join(n.Dir, "stage") }

func (b Bridge) check() error {
	if err := checkLinkName(b.Name); err != nil {
		return fmt.Errorf("bridge: %w", err)
	}
	if !b.Addr.IsValid() || !b.Addr.Addr().Is4() {
		return fmt.Errorf("bridge %s: address %q is not an IPv4 prefix such as 172.30.0.1/24", b.Name, b.Addr)
	}
	return nil
}

func (n Node) check(b Bridge) error {
	if err := b.check(); err != nil {
		return err
	}
	if err := checkLinkName(n.Link); err != nil {
		return fmt.Errorf("node: %w", err)
	}
	if !filepath.IsAbs(n.Dir) {
		return fmt.Errorf("node %s: directory %q is not absolute", n.Link, n.Dir)
	}
	if !n.Addr.IsValid() || n.Addr.Bits() != b.Addr.Bits() || !b.Addr.Contains(n.Addr.Addr()) || n.Addr.Addr() == b.Addr.Addr() {
		return fmt.Errorf("node %s: address %s is not another address of the bridge's subnet %s", n.Link, n.Addr, b.Addr.Masked())
	}
	for _, p := range n.Private {
		if !filepath.IsAbs(p) || filepath.Dir(filepath.Clean(p)) == "/" {
			return fmt.Errorf("node %s: private directory %q is not an absolute path below a top-level directory (such as /var/lib/kubelet)", n.Link, p)
		}
	}
	return nil
}

func checkLinkName(name string) error {
	if name == "" || len(name) > maxLinkName || strings.ContainsAny(name, "/ \t\n:") {
		return fmt.Errorf("link name %q is not 1 to %d bytes without /, : or spaces", name, maxLinkName)
	}
	return nil
}

// ipNet is p as netlink takes it: the address with its prefix length.
func ipNet(p netip.Prefix) *net.IPNet {
	return &net.IPNet{IP: p.Addr().AsSlice(), Mask: net.CIDRMask(p.Bits(), p.Addr().BitLen())}
}
