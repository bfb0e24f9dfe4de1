package ns

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/moby/sys/reexec"
	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/kenv-dev/kenv/env/process"
)

// helperEnv carries a helperRequest to the test binary run as a program of
// the node's: it is its own tiny server and prober, so the tests need
// nothing installed beyond nsenter.
const helperEnv = "KENV_NS_TEST_HELPER"

type helperRequest struct {
	Helper string // "listen", "probe" or "remove"
	// listen
	Addr, Greeting string
	// probe
	Look  []string // paths to describe
	Write []string // directories to write the file "who" into, after looking
	Who   string
	// remove
	Node Node
}

// seen is what a probe found at a path.
type seen struct {
	Kind    string // "dir", "file", "symlink", "absent" or the error
	Entries []string
	Content string // of a file, or of what a symlink leads to
	Target  string
}

func TestMain(m *testing.M) {
	if reexec.Init() {
		return
	}
	if req := os.Getenv(helperEnv); req != "" {
		os.Exit(runHelper(req))
	}
	os.Exit(m.Run())
}

func runHelper(raw string) int {
	var req helperRequest
	if err := json.Unmarshal([]byte(raw), &req); err != nil {
		fmt.Println(err)
		return 2
	}
	switch req.Helper {
	case "listen":
		l, err := net.Listen("tcp", req.Addr)
		if err != nil {
			fmt.Println(err)
			return 1
		}
		fmt.Printf("listening %s\n", l.Addr())
		for {
			c, err := l.Accept()
			if err != nil {
				return 1
			}
			fmt.Fprint(c, req.Greeting)
			c.Close()
		}
	case "probe":
		out := map[string]seen{}
		for _, p := range req.Look {
			out[p] = look(p)
		}
		for _, dir := range req.Write {
			if err := os.WriteFile(filepath.Join(dir, "who"), []byte(req.Who), 0o644); err != nil {
				out["write "+dir] = seen{Kind: err.Error()}
			}
		}
		b, _ := json.Marshal(out)
		fmt.Printf("%s\n", b)
		return 0
	case "remove":
		if err := Remove(req.Node); err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		return 0
	}
	return 2
}

func look(p string) seen {
	st, err := os.Lstat(p)
	if errors.Is(err, os.ErrNotExist) {
		return seen{Kind: "absent"}
	}
	if err != nil {
		return seen{Kind: err.Error()}
	}
	var s seen
	switch {
	case st.Mode()&os.ModeSymlink != 0:
		s.Kind = "symlink"
		s.Target, _ = os.Readlink(p)
		b, _ := os.ReadFile(p)
		s.Content = string(b)
	case st.IsDir():
		s.Kind = "dir"
		entries, _ := os.ReadDir(p)
		for _, e := range entries {
			s.Entries = append(s.Entries, e.Name())
		}
	default:
		s.Kind = "file"
		b, _ := os.ReadFile(p)
		s.Content = string(b)
	}
	return s
}

func needRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("making namespaces, links and mounts needs root")
	}
}

func randomName() string { return fmt.Sprintf("%06x", rand.Uint32()&0xffffff) }

// newBridge brings up a bridge of the test's on a 172.31.x.0/24 the
// machine does not route yet.
func newBridge(t *testing.T) Bridge {
	t.Helper()
	routes, err := netlink.RouteList(nil, netlink.FAMILY_V4)
	if err != nil {
		t.Fatal(err)
	}
	var b Bridge
	for tries := 0; ; tries++ {
		b = Bridge{Name: "kt-" + randomName(), Addr: netip.MustParsePrefix(fmt.Sprintf("172.31.%d.1/24", rand.IntN(256)))}
		taken := false
		for _, r := range routes {
			if r.Dst != nil && !isDefault(r) && r.Dst.Contains(b.Addr.Addr().AsSlice()) {
				taken = true
			}
		}
		if !taken {
			break
		}
		if tries == 20 {
			t.Skip("no free 172.31.x.0/24 on this machine")
		}
	}
	if err := b.Up(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := b.Down(); err != nil {
			t.Error(err)
		}
	})
	return b
}

// newNode makes node i (2, 3, …) of b, removed at the end of the test.
func newNode(t *testing.T, b Bridge, i int, private ...string) Node {
	t.Helper()
	a := b.Addr.Addr().As4()
	a[3] = byte(i)
	n := Node{
		Dir:     t.TempDir(),
		Link:    fmt.Sprintf("%s-%d", b.Name, i),
		Addr:    netip.PrefixFrom(netip.AddrFrom4(a), b.Addr.Bits()),
		Private: private,
	}
	if err := Make(n, b); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := Remove(n); err != nil {
			t.Error(err)
		}
	})
	return n
}

// start runs the helper req in n, stopped at the end of the test.
func start(t *testing.T, n Node, name string, req helperRequest) *process.Process {
	t.Helper()
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := json.Marshal(req)
	p, err := n.Place().Start(process.Spec{
		Name:    name,
		Argv:    []string{self},
		Env:     []string{helperEnv + "=" + string(raw)},
		LogPath: filepath.Join(t.TempDir(), name+".log"),
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = p.Stop(5 * time.Second) })
	return p
}

// listen starts a listener in n on addr and returns the address it listens on.
func listen(t *testing.T, n Node, name, addr, greeting string) string {
	t.Helper()
	p := start(t, n, name, helperRequest{Helper: "listen", Addr: addr, Greeting: greeting})
	var got string
	ok := process.WaitFor(context.Background(), 10*time.Second, func() bool {
		b, _ := os.ReadFile(p.LogPath)
		for _, line := range strings.Split(string(b), "\n") {
			if a, found := strings.CutPrefix(line, "listening "); found {
				got = a
				return true
			}
		}
		return p.Exit() != ""
	})
	if !ok || got == "" {
		b, _ := os.ReadFile(p.LogPath)
		t.Fatalf("%s does not listen on %s (%s): %s", name, addr, p.Exit(), b)
	}
	return got
}

// isDefault reports whether r is a default route, which netlink gives
// with no destination or with 0.0.0.0/0.
func isDefault(r netlink.Route) bool {
	if r.Dst == nil {
		return true
	}
	ones, _ := r.Dst.Mask.Size()
	return ones == 0
}

// probe runs a probe in n and returns what it saw.
func probe(t *testing.T, n Node, req helperRequest) map[string]seen {
	t.Helper()
	req.Helper = "probe"
	p := start(t, n, "probe-"+req.Who, req)
	select {
	case <-p.Done():
	case <-time.After(10 * time.Second):
		t.Fatal("the probe did not end")
	}
	b, _ := os.ReadFile(p.LogPath)
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	var out map[string]seen
	if err := json.Unmarshal([]byte(lines[len(lines)-1]), &out); err != nil || p.Exit() != "exited with code 0" {
		t.Fatalf("probe %s: %s: %s", req.Who, p.Exit(), b)
	}
	return out
}

// greeting is what the listener at addr says, dialled with dial.
func greeting(dial func(ctx context.Context, network, addr string) (net.Conn, error), addr string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, err := dial(ctx, "tcp", addr)
	if err != nil {
		return "", err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	b, err := io.ReadAll(c)
	return string(b), err
}

var hostDial = (&net.Dialer{}).DialContext

// freePort is a port of the host's loopback nothing listens on just now.
func freePort(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// hostState is what of the machine a node must leave as it was.
type hostState struct {
	Links, Routes, Routes6, Mounts []string
	Forward                        string
}

func snapshot(t *testing.T) hostState {
	t.Helper()
	var s hostState
	links, err := netlink.LinkList()
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range links {
		a := l.Attrs()
		s.Links = append(s.Links, fmt.Sprintf("%d %s %s master %d mtu %d", a.Index, a.Name, l.Type(), a.MasterIndex, a.MTU))
	}
	routes, err := netlink.RouteListFiltered(netlink.FAMILY_ALL, &netlink.Route{Table: unix.RT_TABLE_UNSPEC}, netlink.RT_FILTER_TABLE)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range routes {
		line := fmt.Sprintf("table %d type %d %s", r.Table, r.Type, r)
		if r.Family == netlink.FAMILY_V6 {
			s.Routes6 = append(s.Routes6, line)
		} else {
			s.Routes = append(s.Routes, line)
		}
	}
	b, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		t.Fatal(err)
	}
	s.Mounts = strings.Split(strings.TrimSpace(string(b)), "\n")
	b, err = os.ReadFile("/proc/sys/net/ipv4/ip_forward")
	if err != nil {
		t.Fatal(err)
	}
	s.Forward = strings.TrimSpace(string(b))
	return s
}

// added is what of after is not in before.
func added(before, after []string) []string {
	had := map[string]bool{}
	for _, s := range before {
		had[s] = true
	}
	var out []string
	for _, s := range after {
		if !had[s] {
			out = append(out, s)
		}
	}
	return out
}

func compareHost(t *testing.T, before, after hostState) {
	t.Helper()
	for _, c := range []struct {
		what          string
		before, after []string
	}{
		{"links", before.Links, after.Links},
		{"routes", before.Routes, after.Routes},
		{"IPv6 routes", before.Routes6, after.Routes6},
		{"mounts", before.Mounts, after.Mounts},
	} {
		if more, less := added(c.before, c.after), added(c.after, c.before); len(more)+len(less) > 0 {
			t.Errorf("the machine's %s changed:\n  added %q\n  gone %q", c.what, more, less)
		}
	}
	if before.Forward != after.Forward {
		t.Errorf("the machine's net.ipv4.ip_forward changed from %s to %s", before.Forward, after.Forward)
	}
}
