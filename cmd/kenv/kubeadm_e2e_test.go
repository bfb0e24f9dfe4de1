//go:build e2e

package main_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/moby/sys/mountinfo"
	"golang.org/x/sync/errgroup"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/kenv-dev/kenv/env/build"
	"github.com/kenv-dev/kenv/env/host"
	"github.com/kenv-dev/kenv/env/layout"
	"github.com/kenv-dev/kenv/env/node"
	"github.com/kenv-dev/kenv/env/ns"
	"github.com/kenv-dev/kenv/env/plan"
	"github.com/kenv-dev/kenv/env/process"
	"github.com/kenv-dev/kenv/env/source"
	"github.com/kenv-dev/kenv/env/spec"
)

// kubeadmCluster is a single-node kubeadm cluster that kenv did not make,
// as a user's cluster is: `kubeadm init` with its static pods for etcd,
// kube-apiserver, kube-controller-manager and kube-scheduler, run by a
// kubelet on containerd, reached over SSH. The node boots systemd as
// kind's node image does: systemd is the pid 1 of a pid namespace of the
// node's, and runs containerd, sshd and the kubelet from units
// (kubelet.service with kubeadm's drop-in, which `kubeadm init` restarts
// through systemctl). It runs offline in network and mount namespaces of
// its own (env/ns), its images made here from the components built from
// the real source at Version (kenv's own build, so they share kenv's
// build cache); no CoreDNS or kube-proxy. Everything it made on this
// machine goes at the test's cleanup.
type kubeadmCluster struct {
	Version  string // e.g. "v1.34.4" (e2eVersion())
	NodeName string // the kubeadm node name
	// Address is the node's IP; kube-apiserver listens there on 6443,
	// sshd on 22.
	Address string
	// Kubeconfig is a copy on this machine of the node's
	// /etc/kubernetes/admin.conf (server https://Address:6443).
	Kubeconfig string
	SSHTarget  string // "root@" + Address
	// SSHOptions go before SSHTarget on ssh's command line (and scp's):
	// {"-F", ssh_config}, with the test's identity, the node's host key
	// as the only known host, StrictHostKeyChecking and BatchMode.
	SSHOptions []string
	// Exec is a command prefix that runs an argv inside the node, as
	// root, stdin and stdout passed through: nsenter into the namespaces
	// of the node's systemd (network, mount, pid, UTS).
	Exec []string
	// ManifestDir is where the static pods' manifests are, inside the
	// node.
	ManifestDir string

	work string // this machine's directory of the cluster
	// systemd is the pid, on this machine, of the node's systemd.
	systemd int
}

// The node's ranges: its /24 is 10.236.N.0/24, N from the cluster's name,
// a range nothing else on this machine routes (kenv's own node tests use
// 10.231 and 10.232); the pods' and Services' ranges exist only inside
// the node.
const (
	kubeadmPods     = "10.236.128.0/17"
	kubeadmServices = "10.236.112.0/20"
	kubeadmCNIRange = "10.236.128.0/24"
)

// kubeadmPrivate are the machine's directories that are the node's own
// inside it (env/ns Private): what kubeadm, the kubelet, containerd, the
// CNI plugins, etcd, sshd, systemd and mount(8) write at fixed paths,
// and the node's systemd units. The static
// pods' DirectoryOrCreate host paths (/usr/libexec/kubernetes for the
// controller-manager's flex volumes) are among them.
var kubeadmPrivate = []string{
	"/etc/cni/net.d", "/etc/kubernetes", "/etc/systemd/system", "/run/containerd", "/run/mount", "/run/sshd",
	"/run/systemd", "/usr/libexec/kubernetes", "/var/lib/cni", "/var/lib/etcd", "/var/lib/kubelet",
	"/var/lib/systemd", "/var/log/containers", "/var/log/pods",
}

// kubeadmOwnFiles are files of the machine the node gets copies of, bound
// over them inside the node: the kernel settings the kubelet writes that
// no namespace holds (host.Take's), and the login records sshd writes.
var kubeadmOwnFiles = []string{
	"/proc/sys/vm/overcommit_memory", "/proc/sys/vm/panic_on_oom", "/proc/sys/kernel/panic",
	"/proc/sys/kernel/panic_on_oops", "/proc/sys/kernel/keys/root_maxkeys", "/proc/sys/kernel/keys/root_maxbytes",
	"/run/utmp", "/var/log/wtmp", "/var/log/btmp", "/var/log/lastlog",
}

// kubeadmComponents are what the cluster runs of the Kubernetes tree.
var kubeadmComponents = []string{"kube-apiserver", "kube-controller-manager", "kube-scheduler", "kubelet", "kubeadm"}

// startKubeadmCluster makes the cluster called name (1 to 9 of [a-z0-9]):
// node "kadm-<name>", bridge "kadm-<name>", cgroup "/kadm-<name>". It
// returns once `kubeadm init` has succeeded, the node and its four static
// pods are Ready and sshd answers. Each step is bounded in time; a failure
// says which step failed, with the last lines of the logs.
func startKubeadmCluster(t *testing.T, name string) *kubeadmCluster {
	t.Helper()
	if testing.Short() {
		t.Skip("builds Kubernetes and runs a kubeadm cluster, as root")
	}
	if !regexp.MustCompile(`^[a-z0-9]{1,9}$`).MatchString(name) {
		t.Fatalf("kubeadm cluster name %q: want 1 to 9 of [a-z0-9] (link names have 15 bytes)", name)
	}
	if err := kubeadmCheck(); err != nil {
		t.Fatal(err)
	}
	started := time.Now()
	step := func(what string) func() {
		begin := time.Now()
		return func() {
			t.Logf("kubeadm cluster %s: %s in %s (%s since start)", name, what,
				time.Since(begin).Round(100*time.Millisecond), time.Since(started).Round(100*time.Millisecond))
		}
	}

	// Short: containerd's socket lies under it, at most 108 bytes.
	work, err := os.MkdirTemp("", "kadm-"+name+"-")
	if err == nil {
		work, err = filepath.EvalSymlinks(work)
	}
	if err != nil {
		t.Fatal(err)
	}
	// Last of all, also when a step before the node's fails.
	t.Cleanup(func() { os.RemoveAll(work) })
	c := &kubeadmCluster{Version: e2eVersion(), NodeName: "kadm-" + name, ManifestDir: "/etc/kubernetes/manifests", work: work}
	logs := filepath.Join(work, "logs")
	nodeDir := filepath.Join(work, "node")
	for _, dir := range []string{logs, nodeDir} {
		if err := os.MkdirAll(dir, 0o700); err != nil {
			t.Fatal(err)
		}
	}
	// fail ends the test with the step that failed and the logs' last lines.
	fail := func(what string, err error) {
		t.Helper()
		var tails strings.Builder
		entries, _ := os.ReadDir(logs)
		for _, e := range entries {
			if f, err := os.Open(filepath.Join(logs, e.Name())); err == nil {
				lines, _ := process.Tail(f, 20)
				f.Close()
				fmt.Fprintf(&tails, "\n--- the last lines of %s:\n%s", e.Name(), strings.Join(lines, "\n"))
			}
		}
		t.Fatalf("kubeadm cluster %s: %s: %v%s", name, what, err, tails.String())
	}

	// The binaries and images.
	done := step("binaries built")
	bins, err := kubeadmBinaries(logs)
	if err != nil {
		fail("build", err)
	}
	done()
	done = step("images made")
	images, err := kubeadmImages(work, bins)
	if err != nil {
		fail("images", err)
	}
	done()

	// The node's namespaces on a bridge of their own. The sweep, last of
	// the cleanups, removes the shims containerd leaves, the cgroup with
	// what runs in it, the namespaces, the bridge and the directory.
	sum := fnv.New32a()
	sum.Write([]byte(name))
	subnet := 1 + sum.Sum32()%100
	bridge := ns.Bridge{Name: "kadm-" + name, Addr: netip.MustParsePrefix(fmt.Sprintf("10.236.%d.1/24", subnet))}
	nsNode := ns.Node{Dir: nodeDir, Link: "kadmv-" + name, Private: kubeadmPrivate,
		Addr: netip.MustParsePrefix(fmt.Sprintf("10.236.%d.2/24", subnet))}
	c.Address = nsNode.Addr.Addr().String()
	c.SSHTarget = "root@" + c.Address
	cgroupRoot := "/kadm-" + name
	// In the node, /run/containerd is the node's; a name of the cluster's
	// own keeps the shims' command lines apart from any other containerd's.
	socket := "/run/containerd/containerd-kadm-" + name + ".sock"
	hostSocket := filepath.Join(nodeDir, "private", socket)
	if len(hostSocket)+len(".ttrpc") > 107 {
		t.Fatalf("kubeadm cluster %s: containerd's socket %s is too long for a Unix socket; set TMPDIR to a shorter directory", name, hostSocket)
	}
	if clash, err := host.Clash(bridge.Addr.Masked(), bridge.Name); err != nil || clash != "" {
		t.Fatalf("kubeadm cluster %s: the node's range %s overlaps %s (%v); choose another name", name, bridge.Addr.Masked(), clash, err)
	}
	var cleanupStart time.Time
	t.Cleanup(func() {
		defer func() {
			if cleanupStart.IsZero() {
				return
			}
			t.Logf("FIGURE kubeadm cluster %s cleaned up: %s", name, time.Since(cleanupStart).Round(100*time.Millisecond))
		}()
		err := host.Sweep(host.Nodes{Bridge: bridge.Name, List: []host.Node{{Name: c.NodeName, NS: nsNode,
			Transient: []string{work}, Socket: socket, CgroupRoot: cgroupRoot}}})
		if err != nil {
			t.Errorf("kubeadm cluster %s: sweep: %v", name, err)
		}
	})
	done = step("node namespaces made")
	if err := bridge.Up(); err != nil {
		fail("bridge", err)
	}
	if err := host.MakeCgroup(cgroupRoot); err != nil {
		fail("cgroup", err)
	}
	if err := ns.Make(nsNode, bridge); err != nil {
		fail("namespaces", err)
	}
	own, err := c.ownFiles()
	if err != nil {
		fail("the node's own kernel settings and login records", err)
	}
	done()

	// systemd, booted in the node with the units of containerd, sshd and
	// the kubelet; it and what it runs go with the cgroup at the sweep.
	done = step("systemd running in the node")
	config := filepath.Join(work, "containerd.toml")
	if err := os.WriteFile(config, []byte(fmt.Sprintf(kubeadmContainerdTOML, filepath.Join(work, "containerd"), socket, socket+".ttrpc",
		filepath.Join(work, "containerd", "opt"), node.PauseImage, node.CNIBinDir())), 0o644); err != nil {
		t.Fatal(err)
	}
	cni := filepath.Join(nodeDir, "private", "etc", "cni", "net.d", "10-kadm.conflist")
	if err := os.WriteFile(cni, []byte(fmt.Sprintf(kubeadmCNI, kubeadmCNIRange)), 0o644); err != nil {
		t.Fatal(err)
	}
	sshdConfig, err := c.writeSSH()
	if err != nil {
		t.Fatal(err)
	}
	units := map[string]string{
		"kadm-node.target":                  kubeadmNodeTarget,
		"containerd.service":                fmt.Sprintf(kubeadmContainerdUnit, bins.containerd, config, filepath.Join(logs, "containerd.log")),
		"kadm-sshd.service":                 fmt.Sprintf(kubeadmSSHDUnit, sshdConfig, filepath.Join(logs, "sshd.log")),
		"kubelet.service":                   fmt.Sprintf(kubeadmKubeletUnit, bins.dir+"/kubelet", filepath.Join(logs, "kubelet.log")),
		"kubelet.service.d/10-kubeadm.conf": fmt.Sprintf(kubeadmKubeletDropIn, bins.dir+"/kubelet"),
	}
	for name, content := range units {
		path := filepath.Join(nodeDir, "private", "etc", "systemd", "system", name)
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	boot, err := c.bootScript(cgroupRoot, own)
	if err != nil {
		t.Fatal(err)
	}
	booted, err := nsNode.Place().Start(process.Spec{Name: "systemd", Argv: []string{"sh", "-e", boot}, LogPath: filepath.Join(logs, "boot.log")})
	if err != nil {
		fail("boot systemd", err)
	}
	t.Cleanup(func() {
		// Its pid namespace, and all in it, ends with it.
		if pid := c.systemd; pid != 0 {
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
		if err := booted.Stop(10 * time.Second); err != nil {
			t.Errorf("kubeadm cluster %s: stop systemd: %v", name, err)
		}
	})
	err = waitProcess(time.Minute, booted, func() error {
		if c.systemd == 0 {
			for _, pid := range process.Descendants(booted.Pid()) {
				if comm, _ := os.ReadFile(fmt.Sprintf("/proc/%d/comm", pid)); strings.TrimSpace(string(comm)) == "systemd" {
					c.systemd = pid
					c.Exec = []string{bins.nsenter, "--target=" + strconv.Itoa(pid), "--net", "--mount", "--pid", "--uts", "--"}
				}
			}
			if c.systemd == 0 {
				return errors.New("systemd has not started")
			}
		}
		out, err := c.run(nil, "systemctl", "is-system-running")
		if state := strings.TrimSpace(out); state != "running" {
			return fmt.Errorf("systemctl is-system-running: %s (%v)", state, err)
		}
		return nil
	})
	if err != nil {
		fail("systemd", err)
	}
	done()

	// containerd, with the images; the pods go while it runs.
	done = step("containerd up with the images")
	t.Cleanup(func() {
		// The kubelet first, or it starts what is being removed.
		if out, err := c.run(nil, "systemctl", "stop", "kubelet.service"); err != nil {
			t.Errorf("kubeadm cluster %s: stop the kubelet: %v: %s", name, err, out)
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if err := node.RemovePods(ctx, hostSocket); err != nil {
			t.Errorf("kubeadm cluster %s: remove the pods: %v", name, err)
		}
	})
	if err := waitProcess(30*time.Second, booted, func() error { return node.Ready(context.Background(), hostSocket) }); err != nil {
		fail("containerd", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	importLog, err := os.Create(filepath.Join(logs, "images.log"))
	if err != nil {
		t.Fatal(err)
	}
	defer importLog.Close()
	for ref, tarball := range images {
		if _, err := node.Import(ctx, hostSocket, tarball, []string{ref}, importLog); err != nil {
			fail("import "+ref, err)
		}
	}
	done()

	// kubeadm init, in the node: it writes the kubelet's configuration
	// and restarts kubelet.service through systemctl, as on a node of
	// kubeadm's packages.
	done = step("kubeadm init")
	kubeadmConfig := filepath.Join(work, "kubeadm.yaml")
	if err := os.WriteFile(kubeadmConfig, []byte(fmt.Sprintf(kubeadmConfigYAML, c.Address, c.NodeName, socket, c.Address,
		c.Version, c.NodeName, kubeadmEtcdRepository, bins.etcdVersion, kubeadmServices, kubeadmPods, cgroupRoot)), 0o644); err != nil {
		t.Fatal(err)
	}
	kubeadm, err := process.Start(process.Spec{Name: "kubeadm", LogPath: filepath.Join(logs, "kubeadm.log"),
		Argv: append(slices.Clone(c.Exec), bins.dir+"/kubeadm", "init", "--config", kubeadmConfig, "--v=1")})
	if err != nil {
		fail("start kubeadm", err)
	}
	select {
	case <-kubeadm.Done():
		if how := kubeadm.Exit(); how != "exited with code 0" {
			fail("kubeadm init", errors.New(how))
		}
	case <-booted.Done():
		fail("kubeadm init", fmt.Errorf("the node's systemd ended: %v", booted.ExitError()))
	case <-time.After(6 * time.Minute):
		_ = kubeadm.Stop(10 * time.Second)
		fail("kubeadm init", errors.New("not done within 6 minutes"))
	}
	done()

	// sshd, a unit of the node's, with keys made here.
	done = step("sshd answers")
	if err := c.waitSSH(booted); err != nil {
		fail("sshd", err)
	}
	done()

	admin, err := os.ReadFile(filepath.Join(nodeDir, "private", "etc", "kubernetes", "admin.conf"))
	if err != nil {
		fail("admin.conf", err)
	}
	c.Kubeconfig = filepath.Join(work, "admin.conf")
	if err := os.WriteFile(c.Kubeconfig, admin, 0o600); err != nil {
		t.Fatal(err)
	}

	// kubeadm init returns once kube-apiserver is healthy; the cluster is
	// steady once the node and the four static pods are Ready.
	done = step("node and control plane Ready")
	cs := clientset(t, c.Kubeconfig)
	ctx, cancel = context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	if err := waitNodeReady(ctx, cs, c.NodeName); err != nil {
		fail("node "+c.NodeName, err)
	}
	for _, component := range []string{"etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler"} {
		if err := waitPodReady(ctx, cs, "kube-system", component+"-"+c.NodeName); err != nil {
			fail("static pod "+component, err)
		}
	}
	done()
	t.Logf("FIGURE kubeadm cluster %s up: %s", name, time.Since(started).Round(100*time.Millisecond))
	// Registered last, run first.
	t.Cleanup(func() { cleanupStart = time.Now() })
	return c
}

// kubeadmCheck says what this machine lacks for the cluster, all at once.
func kubeadmCheck() error {
	var problems []string
	if os.Geteuid() != 0 {
		problems = append(problems, "the kubeadm cluster runs as root")
	}
	for _, c := range []string{"containerd", "containerd-shim-runc-v2", "ctr", "runc", "nsenter", "mount", "/usr/sbin/sshd", "ssh", "ssh-keygen", "gcc"} {
		if _, err := exec.LookPath(c); err != nil {
			problems = append(problems, c+" is not installed")
		}
	}
	if len(problems) > 0 {
		return fmt.Errorf("%s (make node-deps installs what is missing)", strings.Join(problems, "; "))
	}
	return nil
}

// kubeadmBins are the programs the cluster runs.
type kubeadmBins struct {
	dir         string // the Kubernetes binaries
	etcd        string
	etcdVersion string // e.g. "v3.6.6"
	pause       string // the pause image's tarball
	containerd  string
	nsenter     string
}

// kubeadmBuildTimeout bounds the builds: minutes when Go's build cache
// is cold.
const kubeadmBuildTimeout = 20 * time.Minute

// kubeadmBinaries builds the Kubernetes components from the source at
// e2eVersion() as kenv builds them, into kenv's own binaries' directory
// (what is built there already is up to date and taken as it is), etcd
// from the etcd server module kenv requires, and the pause image from the
// tree as kenv does; the go commands' output goes to logs/build.log.
func kubeadmBinaries(logs string) (kubeadmBins, error) {
	var b kubeadmBins
	ctx, cancel := context.WithTimeout(context.Background(), kubeadmBuildTimeout)
	defer cancel()
	log, err := os.Create(filepath.Join(logs, "build.log"))
	if err != nil {
		return b, err
	}
	defer log.Close()
	root, err := layout.CacheRoot()
	if err != nil {
		return b, err
	}
	cache := layout.Cache{Dir: root}
	tree, err := source.Get(ctx, cache, source.Location{Version: e2eVersion()}, func(msg string) { fmt.Fprintln(log, msg) })
	if err != nil {
		return b, fmt.Errorf("get the Kubernetes source: %w", err)
	}
	// kenv's default build, the same flags as `kenv up`'s: its binaries'
	// directory and Go's build cache are shared.
	s := &spec.Spec{Build: spec.Build{Unoptimized: true, Optimize: spec.DefaultOptimize}}
	b.dir = plan.BinDir(cache, s, tree)
	req := build.Request{Tree: tree, Components: kubeadmComponents, OutDir: b.dir, Unoptimized: true, Optimize: spec.DefaultOptimize}
	if _, err := build.Run(ctx, req, log); err != nil {
		return b, err
	}

	pauseDir := cache.PauseDir(tree.Key)
	if err := node.BuildPause(ctx, filepath.Join(tree.Dir, "build", "pause", "linux", "pause.c"), pauseDir, log); err != nil {
		return b, fmt.Errorf("pause image: %w", err)
	}
	b.pause = node.PauseTarball(pauseDir)

	// etcd: static, for an image that holds it alone.
	b.etcd = filepath.Join(filepath.Dir(logs), "etcd")
	cmd := exec.CommandContext(ctx, "go", "build", "-tags", "e2e", "-o", b.etcd, "./internal/etcd")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	cmd.Stdout, cmd.Stderr = log, log
	if err := cmd.Run(); err != nil {
		return b, fmt.Errorf("go build etcd: %w", err)
	}
	out, err := exec.CommandContext(ctx, "go", "list", "-m", "-f", "{{.Version}}", "go.etcd.io/etcd/server/v3").Output()
	if err != nil {
		return b, fmt.Errorf("etcd's version: %w", err)
	}
	b.etcdVersion = strings.TrimSpace(string(out))

	if b.containerd, err = exec.LookPath("containerd"); err != nil {
		return b, err
	}
	b.nsenter, err = exec.LookPath("nsenter")
	return b, err
}

// kubeadmEtcdRepository names the etcd image, which is not the one kubeadm
// would pull: etcd built here, at the version kenv requires.
const kubeadmEtcdRepository = "localhost/kadm"

// kubeadmImages makes the images the static pods run, one executable each,
// named as the manifests name them, as tarballs under work; it returns
// them by name, the pause image with them.
func kubeadmImages(work string, b kubeadmBins) (map[string]string, error) {
	dir := filepath.Join(work, "images")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	images := map[string]string{node.PauseImage: b.pause}
	var mu sync.Mutex
	// Compressing the layers is most of the time: one per core.
	var g errgroup.Group
	g.SetLimit(runtime.NumCPU())
	for _, c := range []string{"kube-apiserver", "kube-controller-manager", "kube-scheduler", "etcd"} {
		bin, ref := filepath.Join(b.dir, c), "registry.k8s.io/"+c+":"+e2eVersion()
		if c == "etcd" {
			bin, ref = b.etcd, kubeadmEtcdRepository+"/etcd:"+b.etcdVersion
		}
		tarball := filepath.Join(dir, c+".tar")
		g.Go(func() error {
			// The manifests run the command by name.
			if err := node.ExecutableImage(tarball, ref, bin, v1.Config{Entrypoint: []string{"/" + c}, Env: []string{"PATH=/"}}); err != nil {
				return fmt.Errorf("image %s: %w", ref, err)
			}
			mu.Lock()
			defer mu.Unlock()
			images[ref] = tarball
			return nil
		})
	}
	return images, g.Wait()
}

// ownFiles writes, for each of kubeadmOwnFiles the machine has, a copy
// of the node's own, and returns them: the boot script binds each over
// its file inside the node, so that what the node writes there stays in
// the node.
func (c *kubeadmCluster) ownFiles() ([]bind, error) {
	dir := filepath.Join(c.work, "own")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	var binds []bind
	for i, path := range kubeadmOwnFiles {
		content, err := os.ReadFile(path)
		if errors.Is(err, os.ErrNotExist) {
			continue
		}
		if err != nil {
			return nil, err
		}
		own := filepath.Join(dir, strconv.Itoa(i)+"-"+filepath.Base(path))
		if err := os.WriteFile(own, content, 0o644); err != nil {
			return nil, err
		}
		binds = append(binds, bind{from: own, to: path})
	}
	return binds, nil
}

// bind is a bind mount inside the node.
type bind struct{ from, to string }

// bootScript writes the script that boots the node's systemd, run in the
// node's network and mount namespaces, and returns its path. It puts
// itself in the cluster's cgroup (a leaf, node, under cgroupRoot), then,
// in a pid, UTS and mount namespace of its own (unshare; the mount
// namespace a slave of the node's), mounts the pid namespace's /proc,
// binds the node's own files, gives systemd a /sys/fs/cgroup of its own
// (a tmpfs with the machine's hierarchies mounted in it, then read-only,
// so that systemd neither remounts the machine's tmpfs nor mounts a
// hierarchy the machine has not), and execs systemd with the node's
// target. On a machine with cgroup v2 alone, /sys/fs/cgroup is that
// hierarchy, as it is.
func (c *kubeadmCluster) bootScript(cgroupRoot string, binds []bind) (string, error) {
	mounts, err := mountinfo.GetMounts(func(m *mountinfo.Info) (skip, stop bool) {
		return m.FSType != "cgroup" && m.FSType != "cgroup2", false
	})
	if err != nil {
		return "", err
	}
	if len(mounts) == 0 {
		return "", errors.New("no cgroup hierarchy is mounted")
	}
	var outer, inner strings.Builder
	for _, m := range mounts {
		leaf := filepath.Join(m.Mountpoint, cgroupRoot, "node")
		fmt.Fprintf(&outer, "mkdir -p %s\n", leaf)
		if strings.Contains(m.VFSOptions, "cpuset") {
			for _, f := range []string{"cpuset.cpus", "cpuset.mems"} {
				fmt.Fprintf(&outer, "cat %s > %s\n", filepath.Join(m.Mountpoint, cgroupRoot, f), filepath.Join(leaf, f))
			}
		}
		fmt.Fprintf(&outer, "echo $$ > %s\n", filepath.Join(leaf, "cgroup.procs"))
	}
	fmt.Fprintf(&outer, "exec unshare --pid --fork --kill-child=SIGKILL --mount --uts --propagation slave sh -e %s\n",
		filepath.Join(c.work, "boot-inner.sh"))

	fmt.Fprintf(&inner, "mount -t proc proc /proc\n")
	for _, b := range binds {
		fmt.Fprintf(&inner, "mount --bind %s %s\n", b.from, b.to)
	}
	if len(mounts) > 1 || mounts[0].Mountpoint != "/sys/fs/cgroup" {
		fmt.Fprintf(&inner, "mount -t tmpfs -o mode=755 kadm-cgroup /sys/fs/cgroup\n")
		for _, m := range mounts {
			// The super options name the hierarchy: its controllers, or
			// name=systemd.
			var opts []string
			for _, o := range strings.Split(m.VFSOptions, ",") {
				if o != "rw" && o != "ro" && o != "" {
					opts = append(opts, o)
				}
			}
			// A named hierarchy without controllers, as name=systemd.
			if m.FSType == "cgroup" && !slices.ContainsFunc(opts, func(o string) bool { return !strings.HasPrefix(o, "name=") }) {
				opts = append([]string{"none"}, opts...)
			}
			fmt.Fprintf(&inner, "mkdir -p %s\nmount -t %s -o %s cgroup %s\n", m.Mountpoint, m.FSType, strings.Join(append([]string{"rw"}, opts...), ","), m.Mountpoint)
		}
		fmt.Fprintf(&inner, "mount -o remount,ro,bind /sys/fs/cgroup\n")
	}
	fmt.Fprintf(&inner, "exec env container=kenv-kubeadm /lib/systemd/systemd --unit=kadm-node.target\n")
	for path, content := range map[string]string{"boot.sh": outer.String(), "boot-inner.sh": inner.String()} {
		if err := os.WriteFile(filepath.Join(c.work, path), []byte(content), 0o700); err != nil {
			return "", err
		}
	}
	return filepath.Join(c.work, "boot.sh"), nil
}

// run runs argv inside the node through Exec, with stdin, and returns its
// output, within a minute.
func (c *kubeadmCluster) run(stdin io.Reader, argv ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	args := append(append([]string{}, c.Exec...), argv...)
	cmd := exec.CommandContext(ctx, args[0], args[1:]...)
	var out bytes.Buffer
	cmd.Stdin, cmd.Stdout, cmd.Stderr = stdin, &out, &out
	err := cmd.Run()
	return out.String(), err
}

// writeSSH makes the node's host key and the test's key pair, and writes
// the node's sshd_config, whose path it returns, and the test's ssh
// config.
func (c *kubeadmCluster) writeSSH() (string, error) {
	dir := filepath.Join(c.work, "ssh")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", err
	}
	hostKey, clientKey := filepath.Join(dir, "ssh_host_ed25519_key"), filepath.Join(dir, "id_ed25519")
	for _, key := range []string{hostKey, clientKey} {
		if out, err := exec.Command("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "kadm", "-f", key).CombinedOutput(); err != nil {
			return "", fmt.Errorf("ssh-keygen: %w: %s", err, out)
		}
	}
	hostPub, err := os.ReadFile(hostKey + ".pub")
	if err != nil {
		return "", err
	}
	clientPub, err := os.ReadFile(clientKey + ".pub")
	if err != nil {
		return "", err
	}
	files := map[string]string{
		"authorized_keys": string(clientPub),
		"known_hosts":     c.Address + " " + string(hostPub),
		"sshd_config": fmt.Sprintf(kubeadmSSHDConfig, c.Address, hostKey,
			filepath.Join(dir, "sshd.pid"), filepath.Join(dir, "authorized_keys")),
		"ssh_config": fmt.Sprintf(kubeadmSSHConfig, clientKey, filepath.Join(dir, "known_hosts")),
	}
	for f, content := range files {
		if err := os.WriteFile(filepath.Join(dir, f), []byte(content), 0o600); err != nil {
			return "", err
		}
	}
	c.SSHOptions = []string{"-F", filepath.Join(dir, "ssh_config")}
	return filepath.Join(dir, "sshd_config"), nil
}

// waitSSH waits until `ssh ... true` works, while the node's systemd
// runs.
func (c *kubeadmCluster) waitSSH(systemd *process.Process) error {
	return waitProcess(30*time.Second, systemd, func() error {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		out, err := exec.CommandContext(ctx, "ssh", append(append([]string{}, c.SSHOptions...), c.SSHTarget, "true")...).CombinedOutput()
		if err != nil {
			return fmt.Errorf("ssh %s true: %w: %s", c.SSHTarget, err, bytes.TrimSpace(out))
		}
		return nil
	})
}

// waitProcess polls ready every 200ms until it returns nil, p exits, or
// timeout passes; the error says which, with ready's last error.
func waitProcess(timeout time.Duration, p *process.Process, ready func() error) error {
	deadline := time.Now().Add(timeout)
	for {
		err := ready()
		if err == nil {
			return nil
		}
		select {
		case <-p.Done():
			return fmt.Errorf("%w (last: %v)", p.ExitError(), err)
		default:
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("not ready within %s: %w", timeout, err)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// kubeadmContainerdTOML is kenv's node containerd configuration (see
// env/plan/containerd.go) with the node's fixed paths: root and opt on
// this machine under the cluster's directory, state and sockets in the
// node's own /run/containerd, the node's own CNI configuration.
const kubeadmContainerdTOML = `version = 2
root = %q
state = "/run/containerd/state"

[grpc]
  address = %q

[ttrpc]
  address = %q

[plugins."io.containerd.internal.v1.opt"]
  path = %q

[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = %q
  restrict_oom_score_adj = true
  netns_mounts_under_state_dir = true
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        Root = "/run/containerd/runc"
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = %q
    conf_dir = "/etc/cni/net.d"
`

// kubeadmCNI is the node's pod network, a bridge inside the node, so that
// its runtime's network is ready and the node Ready.
const kubeadmCNI = `{
  "cniVersion": "0.4.0",
  "name": "kadm",
  "plugins": [
    {"type": "bridge", "bridge": "cni0", "isGateway": true,
     "ipam": {"type": "host-local", "ranges": [[{"subnet": %q}]]}},
    {"type": "portmap", "capabilities": {"portMappings": true}}
  ]
}
`

// kubeadmConfigYAML is what `kubeadm init --config` reads: no preflight
// (it would pull images, look for swap and check the machine's kernel),
// no CoreDNS or kube-proxy; images never pulled; the node's address given
// to the kubelet (the node has no default route it would take it from);
// the kubelet on cgroupfs under the cluster's own cgroup, with eviction
// and image garbage collection off as kenv's own kubelets (the images are
// made here, not pulled), and cgroup v1 allowed.
const kubeadmConfigYAML = `apiVersion: kubeadm.k8s.io/v1beta4
kind: InitConfiguration
localAPIEndpoint:
  advertiseAddress: %s
  bindPort: 6443
nodeRegistration:
  name: %s
  criSocket: unix://%s
  imagePullPolicy: Never
  ignorePreflightErrors: [all]
  kubeletExtraArgs:
  - name: node-ip
    value: %s
skipPhases: [preflight, addon/coredns, addon/kube-proxy]
timeouts:
  controlPlaneComponentHealthCheck: 4m0s
  kubeletHealthCheck: 4m0s
---
apiVersion: kubeadm.k8s.io/v1beta4
kind: ClusterConfiguration
kubernetesVersion: %s
clusterName: %s
etcd:
  local:
    imageRepository: %s
    imageTag: %s
networking:
  serviceSubnet: %s
  podSubnet: %s
---
apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
cgroupDriver: cgroupfs
cgroupRoot: %s
failCgroupV1: false
failSwapOn: false
evictionHard:
  memory.available: "0%%"
  nodefs.available: "0%%"
  nodefs.inodesFree: "0%%"
  imagefs.available: "0%%"
imageGCHighThresholdPercent: 100
imageGCLowThresholdPercent: 99
`

// The node's systemd units. None has systemd's default dependencies: the
// node's target starts containerd and sshd and nothing of the machine's
// (its units in /lib/systemd/system are there, not wanted); kubeadm init
// restarts the kubelet. Each unit's output goes to its log in the
// cluster's directory (the node runs no journald).
const (
	kubeadmNodeTarget = `[Unit]
Description=the kubeadm test node
Wants=containerd.service kadm-sshd.service
`
	kubeadmContainerdUnit = `[Unit]
Description=containerd
DefaultDependencies=no

[Service]
ExecStart=%s --config %s
Delegate=yes
KillMode=process
StandardOutput=append:%s
StandardError=inherit
`
	kubeadmSSHDUnit = `[Unit]
Description=the node's sshd
DefaultDependencies=no

[Service]
ExecStart=/usr/sbin/sshd -D -e -f %s
KillMode=process
StandardOutput=append:%s
StandardError=inherit
`
	// As kubeadm's packages install it (kubelet.service and its
	// 10-kubeadm.conf drop-in), the kubelet built here in place of
	// /usr/bin/kubelet.
	kubeadmKubeletUnit = `[Unit]
Description=kubelet: The Kubernetes Node Agent
DefaultDependencies=no
After=containerd.service

[Service]
ExecStart=%s
Restart=always
StartLimitInterval=0
RestartSec=2
StandardOutput=append:%s
StandardError=inherit
`
	kubeadmKubeletDropIn = `[Service]
Environment="KUBELET_KUBECONFIG_ARGS=--bootstrap-kubeconfig=/etc/kubernetes/bootstrap-kubelet.conf --kubeconfig=/etc/kubernetes/kubelet.conf"
Environment="KUBELET_CONFIG_ARGS=--config=/var/lib/kubelet/config.yaml"
EnvironmentFile=-/var/lib/kubelet/kubeadm-flags.env
ExecStart=
ExecStart=%s $KUBELET_KUBECONFIG_ARGS $KUBELET_CONFIG_ARGS $KUBELET_KUBEADM_ARGS $KUBELET_EXTRA_ARGS
`
)

// kubeadmSSHDConfig is the node's sshd: on the node's address only, root
// by key alone, the keys and pid file the test's.
const kubeadmSSHDConfig = `ListenAddress %s:22
HostKey %s
PidFile %s
AuthorizedKeysFile %s
PermitRootLogin prohibit-password
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
StrictModes no
PrintMotd no
PrintLastLog no
Subsystem sftp internal-sftp
`

// kubeadmSSHConfig is the client's: ssh reads the passwd home's
// ~/.ssh/config, not $HOME's, so everything goes through -F.
const kubeadmSSHConfig = `Host *
  IdentityFile %s
  IdentitiesOnly yes
  UserKnownHostsFile %s
  GlobalKnownHostsFile /dev/null
  StrictHostKeyChecking yes
  BatchMode yes
  ConnectTimeout 10
  LogLevel ERROR
`

// waitNodeReady waits until the node's Ready condition is true, or ctx
// ends.
func waitNodeReady(ctx context.Context, cs *kubernetes.Clientset, name string) error {
	last := "not registered"
	for ctx.Err() == nil {
		n, err := cs.CoreV1().Nodes().Get(ctx, name, metav1.GetOptions{})
		if err == nil {
			for _, c := range n.Status.Conditions {
				if c.Type == corev1.NodeReady {
					if c.Status == corev1.ConditionTrue {
						return nil
					}
					last = fmt.Sprintf("Ready %s: %s", c.Status, c.Message)
				}
			}
		}
		time.Sleep(500 * time.Millisecond)
	}
	return fmt.Errorf("not Ready (%s): %w", last, ctx.Err())
}

// waitPodReady waits until the pod is Running with its Ready condition
// true, or ctx ends.
func waitPodReady(ctx context.Context, cs *kubernetes.Clientset, namespace, name string) error {
	var last string
	for ctx.Err() == nil {
		pod, err := cs.CoreV1().Pods(namespace).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			last = err.Error()
		} else {
			last = "phase " + string(pod.Status.Phase)
			for _, c := range pod.Status.Conditions {
				if c.Type == corev1.PodReady {
					last += ", Ready " + string(c.Status)
					if pod.Status.Phase == corev1.PodRunning && c.Status == corev1.ConditionTrue {
						return nil
					}
				}
			}
		}
		time.Sleep(500 * time.Millisecond)
	}
	return fmt.Errorf("not Running and Ready (%s): %w", last, ctx.Err())
}
