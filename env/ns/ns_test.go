package ns

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/moby/sys/mountinfo"
	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

func TestTwoNodes(t *testing.T) {
	needRoot(t)
	b := newBridge(t)
	a, c := newNode(t, b, 2), newNode(t, b, 3)

	for _, n := range []Node{a, c} {
		err := n.inside(func(h *netlink.Handle) error {
			eth0, err := h.LinkByName(nodeLink)
			if err != nil {
				return err
			}
			addrs, err := h.AddrList(eth0, netlink.FAMILY_V4)
			if err != nil {
				return err
			}
			if len(addrs) != 1 || addrs[0].IPNet.String() != n.Addr.String() {
				return fmt.Errorf("eth0 has %v, want %s", addrs, n.Addr)
			}
			routes, err := h.RouteList(nil, netlink.FAMILY_V4)
			if err != nil {
				return err
			}
			for _, r := range routes {
				if isDefault(r) {
					return fmt.Errorf("the node has a default route %s", r)
				}
			}
			return nil
		})
		if err != nil {
			t.Errorf("node %s: %v", n.Link, err)
		}
		var forward []byte
		err = n.inNetwork(func() (err error) {
			forward, err = os.ReadFile("/proc/sys/net/ipv4/ip_forward")
			return err
		})
		if err != nil || string(forward) != "1\n" {
			t.Errorf("node %s: net.ipv4.ip_forward is %q (%v), want 1", n.Link, forward, err)
		}
	}

	const port = "7070"
	listen(t, a, "a", "0.0.0.0:"+port, "a")
	listen(t, c, "c", "0.0.0.0:"+port, "c")
	aLoopback := listen(t, a, "a-lo", "127.0.0.1:0", "a's loopback")
	at := func(n Node) string { return netip.AddrPortFrom(n.Addr.Addr(), 7070).String() }

	for _, tc := range []struct {
		name, addr, want string
		node             *Node // dial from inside, or from the host
	}{
		{"host to a", at(a), "a", nil},
		{"host to c", at(c), "c", nil},
		{"a to c", at(c), "c", &a},
		{"c to a", at(a), "a", &c},
		{"a to its loopback", aLoopback, "a's loopback", &a},
	} {
		dial := hostDial
		if tc.node != nil {
			dial = tc.node.Dial
		}
		if got, err := greeting(dial, tc.addr); err != nil || got != tc.want {
			t.Errorf("%s (%s): got %q, %v; want %q", tc.name, tc.addr, got, err, tc.want)
		}
	}
	for _, tc := range []struct {
		name string
		node *Node
	}{{"the host's loopback", nil}, {"c's loopback", &c}} {
		dial := hostDial
		if tc.node != nil {
			dial = tc.node.Dial
		}
		if got, _ := greeting(dial, aLoopback); got == "a's loopback" {
			t.Errorf("a's loopback listener %s is reached on %s", aLoopback, tc.name)
		}
	}

	ctx, cancel := context.WithCancel(context.Background())
	forward := freePort(t)
	if err := a.Forward(ctx, forward, aLoopback); err != nil {
		t.Fatal(err)
	}
	if err := a.Forward(ctx, forward, aLoopback); err == nil {
		t.Errorf("a second Forward on %s did not fail", forward)
	}
	for range 2 {
		if got, err := greeting(hostDial, forward); err != nil || got != "a's loopback" {
			t.Errorf("through Forward %s: got %q, %v", forward, got, err)
		}
	}
	// A client that connects before the program in the node listens (kenv
	// setting a Delve's breakpoints as it starts) is held until it does.
	late := "127.0.0.1:" + strings.TrimPrefix(freePort(t), "127.0.0.1:")
	early := freePort(t)
	if err := a.Forward(ctx, early, late); err != nil {
		t.Fatal(err)
	}
	answered := make(chan string, 1)
	go func() {
		got, err := greeting(hostDial, early)
		if err != nil {
			got = err.Error()
		}
		answered <- got
	}()
	time.Sleep(time.Second)
	listen(t, a, "a-late", late, "late")
	if got := <-answered; got != "late" {
		t.Errorf("a client of Forward %s that came before the listener got %q, want %q", early, got, "late")
	}
	cancel()
	if _, err := greeting(hostDial, forward); err == nil {
		// The listener closes once the context ends; give it a moment.
		if !waitRefused(forward) {
			t.Errorf("Forward still listens on %s after its context ended", forward)
		}
	}
}

func waitRefused(addr string) bool {
	for range 50 {
		if _, err := greeting(hostDial, addr); err != nil {
			return true
		}
	}
	return false
}

func TestRoutes(t *testing.T) {
	needRoot(t)
	b := newBridge(t)
	a, c := newNode(t, b, 2), newNode(t, b, 3)
	// 198.18.0.0/15 is for benchmarks: no traffic is sent, and the host's
	// routes are checked not to hold the prefixes first.
	third := b.Addr.Addr().As4()[2]
	inNode := netip.MustParsePrefix(fmt.Sprintf("198.18.%d.0/24", third))
	onHost := netip.MustParsePrefix(fmt.Sprintf("198.19.%d.0/24", third))
	routes, _ := netlink.RouteList(nil, netlink.FAMILY_V4)
	for _, r := range routes {
		if r.Dst != nil && (r.Dst.String() == onHost.String()) {
			t.Skipf("the machine routes %s already", onHost)
		}
	}
	if err := a.Route(inNode, c.Addr.Addr()); err != nil {
		t.Fatal(err)
	}
	if err := a.Route(inNode, c.Addr.Addr()); err != nil {
		t.Fatalf("Route again: %v", err)
	}
	if err := b.Route(onHost, a.Addr.Addr()); err != nil {
		t.Fatal(err)
	}
	has := func(routes []netlink.Route, dst netip.Prefix, via netip.Addr) bool {
		return slices.ContainsFunc(routes, func(r netlink.Route) bool {
			return r.Dst != nil && r.Dst.String() == dst.String() && r.Gw.String() == via.String()
		})
	}
	err := a.inside(func(h *netlink.Handle) error {
		routes, err := h.RouteList(nil, netlink.FAMILY_V4)
		if err == nil && !has(routes, inNode, c.Addr.Addr()) {
			err = fmt.Errorf("no route to %s via %s in %v", inNode, c.Addr.Addr(), routes)
		}
		return err
	})
	if err != nil {
		t.Error(err)
	}
	routes, _ = netlink.RouteList(nil, netlink.FAMILY_V4)
	if !has(routes, onHost, a.Addr.Addr()) {
		t.Errorf("the host has no route to %s via %s", onHost, a.Addr.Addr())
	}
}

func TestPrivate(t *testing.T) {
	needRoot(t)
	tag := "kenv-ns-test-" + randomName()
	// A parent of the test's, with what a machine's parents hold: a file,
	// a directory, a symlink, a mount.
	parent := filepath.Join(t.TempDir(), "parent")
	must(t, os.MkdirAll(filepath.Join(parent, "d"), 0o755))
	must(t, os.WriteFile(filepath.Join(parent, "f"), []byte("host file"), 0o644))
	must(t, os.WriteFile(filepath.Join(parent, "d", "x"), []byte("host dir"), 0o644))
	must(t, os.Symlink("f", filepath.Join(parent, "l")))
	must(t, os.Mkdir(filepath.Join(parent, "m"), 0o755))
	must(t, unix.Mount("tmpfs", filepath.Join(parent, "m"), "tmpfs", 0, "size=1m"))
	t.Cleanup(func() { _ = unix.Unmount(filepath.Join(parent, "m"), unix.MNT_DETACH) })
	must(t, os.WriteFile(filepath.Join(parent, "m", "y"), []byte("host mount"), 0o644))
	hostParent := look(parent)

	private := []string{
		filepath.Join(parent, "kubelet"),
		filepath.Join(parent, "new", "deep"), // its parent is absent too
		filepath.Join("/var/lib", tag),
		filepath.Join("/run", tag),
		filepath.Join(os.TempDir(), tag), // a parent that holds the node's Dir
	}
	b := newBridge(t)
	a, c := newNode(t, b, 2, private...), newNode(t, b, 3, private...)
	marker := filepath.Join(a.Dir, "marker")
	must(t, os.WriteFile(marker, []byte("a's dir"), 0o644))

	lookAt := append(slices.Clone(private),
		filepath.Join(parent, "f"), filepath.Join(parent, "d", "x"), filepath.Join(parent, "l"),
		filepath.Join(parent, "m", "y"), parent, marker, "/etc/resolv.conf")
	for _, p := range []string{"/var/lib/dpkg", "/run/systemd", "/run/shm", "/run/lock"} {
		if _, err := os.Lstat(p); err == nil {
			lookAt = append(lookAt, p)
		}
	}
	seenA := probe(t, a, helperRequest{Who: "a", Look: lookAt, Write: private})
	seenC := probe(t, c, helperRequest{Who: "c", Look: private, Write: private})

	for _, p := range private {
		// c looked after a wrote: each node has its own.
		for who, s := range map[string]seen{"a": seenA[p], "c": seenC[p]} {
			if s.Kind != "dir" || len(s.Entries) != 0 {
				t.Errorf("node %s sees %s as %+v, want an empty directory", who, p, s)
			}
		}
		if _, err := os.Lstat(p); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("the host has %s (%v)", p, err)
		}
		for who, n := range map[string]Node{"a": a, "c": c} {
			if got, err := os.ReadFile(filepath.Join(n.Dir, "private", p, "who")); err != nil || string(got) != who {
				t.Errorf("node %s's copy of %s holds %q (%v), want %q", who, p, got, err, who)
			}
		}
	}
	for p, want := range map[string]seen{
		filepath.Join(parent, "f"):      {Kind: "file", Content: "host file"},
		filepath.Join(parent, "d", "x"): {Kind: "file", Content: "host dir"},
		filepath.Join(parent, "l"):      {Kind: "symlink", Target: "f", Content: "host file"},
		filepath.Join(parent, "m", "y"): {Kind: "file", Content: "host mount"},
		marker:                          {Kind: "file", Content: "a's dir"},
		"/etc/resolv.conf":              look("/etc/resolv.conf"),
	} {
		if got := seenA[p]; !reflect.DeepEqual(got, want) {
			t.Errorf("node a sees %s as %+v, the host as %+v", p, got, want)
		}
	}
	for _, p := range lookAt[len(private)+7:] {
		if got, want := seenA[p], look(p); got.Kind != want.Kind || got.Target != want.Target {
			t.Errorf("node a sees %s as %+v, the host as %+v", p, got, want)
		}
	}
	if got := seenA[parent]; !slices.Contains(got.Entries, "kubelet") || !slices.Contains(got.Entries, "new") {
		t.Errorf("node a sees %s with %q, want kubelet and new in it", parent, got.Entries)
	}
	if got := look(parent); !reflect.DeepEqual(got, hostParent) {
		t.Errorf("the host's %s changed from %+v to %+v", parent, hostParent, got)
	}
}

func TestMakeRemove(t *testing.T) {
	needRoot(t)
	before := snapshot(t)
	b := newBridge(t)
	n := Node{
		Dir:     t.TempDir(),
		Link:    b.Name + "-2",
		Addr:    netip.PrefixFrom(b.Addr.Addr().Next(), b.Addr.Bits()),
		Private: []string{filepath.Join("/var/lib", "kenv-ns-test-"+randomName())},
	}
	t.Cleanup(func() { _ = Remove(n) })
	must(t, Make(n, b))
	made := snapshot(t)
	var mountpoints []string
	for _, m := range added(before.Mounts, made.Mounts) {
		mountpoints = append(mountpoints, strings.Fields(m)[4])
	}
	if want := []string{filepath.Join(n.Dir, "ns"), n.netPin(), n.mntPin()}; !reflect.DeepEqual(mountpoints, want) {
		t.Errorf("Make mounted on the machine %q, want %q", mountpoints, want)
	}
	if more := added(before.Links, made.Links); len(more) != 2 {
		t.Errorf("Make added links %q, want the bridge and the veth", more)
	}
	pins := inodes(t, n)
	if routes := nodeRoutes(t, n); len(routes) != 1 || routes[0] != n.Addr.Masked().String() {
		t.Errorf("the node routes to %q, want its subnet %s alone", routes, n.Addr.Masked())
	}

	// A route of the node's tells its network namespace from a new one.
	marker := netip.MustParsePrefix(fmt.Sprintf("198.18.%d.0/24", b.Addr.Addr().As4()[2]))
	must(t, n.Route(marker, b.Addr.Addr()))

	must(t, Make(n, b))
	again := snapshot(t)
	// IPv6 routes of the new links come and go by themselves a while.
	again.Routes6, made.Routes6 = nil, nil
	if !reflect.DeepEqual(again, made) {
		t.Errorf("Make again changed the machine")
		compareHost(t, made, again)
	}
	if got := inodes(t, n); got != pins {
		t.Errorf("Make again made new namespaces: %v, were %v", got, pins)
	}

	// Remove from a fresh process, which has only the Node.
	self, err := os.Executable()
	must(t, err)
	raw, _ := json.Marshal(helperRequest{Helper: "remove", Node: n})
	cmd := exec.Command(self)
	cmd.Env = append(os.Environ(), helperEnv+"="+string(raw))
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("Remove in a fresh process: %v: %s", err, out)
	}
	if mounts, _ := mountinfo.GetMounts(mountinfo.PrefixFilter(n.Dir)); len(mounts) > 0 {
		t.Errorf("mounts under %s after Remove: %v", n.Dir, mounts)
	}
	if _, err := netlink.LinkByName(n.Link); err == nil {
		t.Errorf("the veth %s is there after Remove", n.Link)
	}
	must(t, Remove(n))

	// A node removed is made again, with new namespaces.
	must(t, Make(n, b))
	if routes := nodeRoutes(t, n); slices.Contains(routes, marker.String()) {
		t.Errorf("Make after Remove kept the network namespace: its routes are %q", routes)
	}
	must(t, Remove(n))
	must(t, b.Down())
	must(t, b.Down())
	must(t, Remove(Node{Dir: filepath.Join(n.Dir, "absent"), Link: n.Link}))
	compareHost(t, before, snapshot(t))
}

// nodeRoutes are the destinations of the routes in n's main table.
func nodeRoutes(t *testing.T, n Node) []string {
	t.Helper()
	var dsts []string
	must(t, n.inside(func(h *netlink.Handle) error {
		routes, err := h.RouteList(nil, netlink.FAMILY_V4)
		for _, r := range routes {
			if r.Dst != nil {
				dsts = append(dsts, r.Dst.String())
			}
		}
		return err
	}))
	return dsts
}

// inodes identify the namespaces n's pins hold.
func inodes(t *testing.T, n Node) [2]uint64 {
	t.Helper()
	var out [2]uint64
	for i, pin := range []string{n.netPin(), n.mntPin()} {
		var st unix.Stat_t
		must(t, unix.Stat(pin, &st))
		out[i] = st.Ino
	}
	return out
}

func TestCheck(t *testing.T) {
	b := Bridge{Name: "kenv-demo", Addr: netip.MustParsePrefix("172.30.0.1/24")}
	ok := Node{Dir: "/tmp/n", Link: "kenv-demo-1", Addr: netip.MustParsePrefix("172.30.0.2/24"), Private: []string{"/var/lib/kubelet"}}
	for _, tc := range []struct {
		name string
		edit func(*Node, *Bridge)
		want string // in the error; empty for none
	}{
		{"ok", func(*Node, *Bridge) {}, ""},
		{"long link", func(n *Node, _ *Bridge) { n.Link = "kenv-demo-node-1" }, "1 to 15 bytes"},
		{"long bridge", func(_ *Node, b *Bridge) { b.Name = "kenv-a-long-name" }, "1 to 15 bytes"},
		{"relative dir", func(n *Node, _ *Bridge) { n.Dir = "n" }, "not absolute"},
		{"other subnet", func(n *Node, _ *Bridge) { n.Addr = netip.MustParsePrefix("172.30.1.2/24") }, "bridge's subnet 172.30.0.0/24"},
		{"the bridge's address", func(n *Node, _ *Bridge) { n.Addr = netip.MustParsePrefix("172.30.0.1/24") }, "another address"},
		{"top-level private", func(n *Node, _ *Bridge) { n.Private = []string{"/kubelet"} }, "below a top-level directory"},
		{"relative private", func(n *Node, _ *Bridge) { n.Private = []string{"var/lib/kubelet"} }, "below a top-level directory"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			n, b := ok, b
			tc.edit(&n, &b)
			err := n.check(b)
			if tc.want == "" && err != nil || tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)) {
				t.Errorf("check: %v, want %q", err, tc.want)
			}
		})
	}
}

func TestShadows(t *testing.T) {
	dir := t.TempDir()
	must(t, os.MkdirAll(filepath.Join(dir, "var", "lib"), 0o755))
	p := func(rel string) string { return filepath.Join(dir, rel) }
	got := shadows([]string{
		p("var/lib/kubelet"), p("var/lib/kubelet/pods"), p("var/lib/cni/"),
		p("var/log/pods"), p("var/lib/kubelet"),
	})
	// The shallowest parent first; var/log is absent, so var is shadowed.
	want := []shadowed{
		{p("var"), []string{p("var/log/pods")}},
		{p("var/lib"), []string{p("var/lib/cni"), p("var/lib/kubelet")}},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("shadows:\n got %v\nwant %v", got, want)
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// TestSharedMachine runs the tests again on a machine whose mounts are
// shared, as systemd makes them (this test machine's may be private):
// there the pins need their private mount, and the node's mounts must
// still not show on the machine. The machine is a mount namespace of
// unshare(1)'s.
func TestSharedMachine(t *testing.T) {
	needRoot(t)
	if os.Getenv("KENV_NS_TEST_SHARED") != "" {
		t.Skip("on the shared machine already")
	}
	unshare, err := exec.LookPath("unshare")
	if err != nil {
		t.Skip("no unshare")
	}
	self, err := os.Executable()
	must(t, err)
	cmd := exec.Command(unshare, "--mount", "--propagation", "shared", "--",
		self, "-test.count=1", "-test.run=^(TestTwoNodes|TestPrivate|TestMakeRemove)$")
	cmd.Env = append(os.Environ(), "KENV_NS_TEST_SHARED=1")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("%v:\n%s", err, out)
	}
}
