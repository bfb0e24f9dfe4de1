package bench

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/kenv-dev/kenv/env/access"
	"github.com/kenv-dev/kenv/env/agent"
	"github.com/kenv-dev/kenv/env/plan"
	"github.com/kenv-dev/kenv/env/remote"
)

// floorDir is where the floor copies the build and Delve on the node, as
// a person does with scp.
const floorDir = "/tmp/kenv-bench-floor"

// cluster measures a spec that swaps a cluster's kube-apiserver: kenv up
// until the build under Delve is ready (everything shipped by the
// preparing run, as on any second up), against the same by hand in the
// same run: the binary and Delve copied to the node (scp, or through the
// exec prefix), the manifest moved aside, `dlv exec --continue` with the
// manifest's flags over the same transport, until the cluster's /readyz
// answers. Each side puts the cluster back before the other runs.
func (b *bench) cluster(ctx context.Context, r *Report) error {
	c, err := b.recordedCluster()
	if err != nil {
		return err
	}
	if len(c.Swaps) != 1 || c.Swaps[0].Kind != "kube-apiserver" {
		return fmt.Errorf("kenv bench measures the swap of one kube-apiserver; %s swaps %v", b.o.Spec.File, c.Swaps)
	}
	n := *c.Node(c.Swaps[0].Node)
	cfg, err := access.Config(c.Kubeconfig, c.Context)
	if err != nil {
		return err
	}
	client, err := rest.HTTPClientFor(cfg)
	if err != nil {
		return err
	}
	client.Timeout = 2 * time.Second
	pods, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return err
	}
	f, err := floorOf(ctx, n)
	if err != nil {
		return err
	}
	up := r.row(rowSwapUp)
	for i := range b.o.Runs {
		b.progress(fmt.Sprintf("cluster swap, run %d of %d", i+1, b.o.Runs))
		t, err := b.kenv(ctx, b.home, nil, "up", "-d", b.o.Spec.File)
		if err != nil {
			return err
		}
		if _, err := b.kenv(ctx, b.home, nil, "down", "--name", b.o.Spec.Name); err != nil {
			return err
		}
		up.Kenv = append(up.Kenv, t)
		t, err = f.run(ctx, client, pods, c.Server)
		if err != nil {
			return err
		}
		up.Floor = append(up.Floor, t)
	}
	return nil
}

// recordedCluster is the cluster the preparing run swapped, as kenv
// recorded it.
func (b *bench) recordedCluster() (*plan.Cluster, error) {
	data, err := os.ReadFile(filepath.Join(b.home, b.o.Spec.Name, "cluster.json"))
	if err != nil {
		return nil, err
	}
	var c plan.Cluster
	return &c, json.Unmarshal(data, &c)
}

// floor is the swap by hand on node n.
type floor struct {
	n        remote.Node
	binary   string // local
	dlv      string // local
	manifest string
	flags    []string
	listen   string
	port     string // kube-apiserver's
}

// floorOf reads, unmeasured, what a person copies from the manifest.
func floorOf(ctx context.Context, n remote.Node) (*floor, error) {
	f := &floor{n: n, manifest: n.Manifest("kube-apiserver")}
	for _, file := range n.Files {
		switch base := path.Base(file.Remote); {
		case base == "kube-apiserver":
			f.binary = file.Local
		case strings.HasPrefix(base, "dlv-"):
			f.dlv = file.Local
		}
	}
	if f.binary == "" || f.dlv == "" {
		return nil, fmt.Errorf("the bench measures kube-apiserver under Delve: debug it in %s", n.Name)
	}
	data, err := n.ReadFile(ctx, f.manifest)
	if err != nil {
		return nil, err
	}
	found, err := agent.Parse("kube-apiserver", f.manifest, data)
	if err != nil {
		return nil, err
	}
	f.flags, f.listen = found.Args, "127.0.0.1:2399"
	if i := strings.LastIndex(found.Ports[0], ":"); i >= 0 {
		f.port = found.Ports[0][i+1:]
	}
	return f, nil
}

// run is one swap by hand, timed until the cluster's /readyz answers,
// then undone, unmeasured.
func (f *floor) run(ctx context.Context, client *http.Client, pods kubernetes.Interface, server string) (took float64, err error) {
	n := f.n
	aside := path.Join(floorDir, "kube-apiserver.yaml")
	mirror := "kube-apiserver-" + n.Name
	before := access.StaticPod(ctx, pods, mirror)
	start := time.Now()
	if _, err := n.Run(ctx, nil, "mkdir", "-p", floorDir); err != nil {
		return 0, err
	}
	for _, local := range []string{f.binary, f.dlv} {
		if err := f.copy(ctx, local); err != nil {
			return 0, err
		}
	}
	if _, err := n.Run(ctx, nil, "mv", f.manifest, aside); err != nil {
		return 0, err
	}
	defer func() {
		// Put back, as kenv's down does: Delve and its program gone, the
		// manifest back, the static pod Ready again.
		ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
		defer cancel()
		_, _ = n.Run(ctx, nil, "pkill", "-KILL", "-f", floorDir+"/")
		putBack := f.portFree(ctx)
		_, mvErr := n.Run(ctx, nil, "mv", aside, f.manifest)
		if mvErr == nil {
			_, _ = n.Run(ctx, nil, "rm", "-rf", floorDir)
			putBack = access.WaitStaticPodBack(ctx, pods, mirror, before)
		} else {
			putBack = mvErr
		}
		if putBack != nil && err == nil {
			err = fmt.Errorf("put the cluster back after the floor (the manifest is in %s on node %s if it is not back): %w", aside, n.Name, putBack)
		}
	}()
	// As a person watches the old pod go: until nothing listens at its
	// port.
	if err := f.portFree(ctx); err != nil {
		return 0, fmt.Errorf("the kubelet did not stop kube-apiserver: %w", err)
	}
	argv := append([]string{path.Join(floorDir, "dlv"), "exec", "--headless", "--listen=" + f.listen, "--api-version=2",
		"--accept-multiclient", "--continue", path.Join(floorDir, "kube-apiserver"), "--"}, f.flags...)
	local, err := n.Command(argv...)
	if err != nil {
		return 0, err
	}
	dlv := exec.CommandContext(ctx, local[0], local[1:]...)
	if err := dlv.Start(); err != nil {
		return 0, err
	}
	defer func() { _ = dlv.Process.Kill(); _ = dlv.Wait() }()
	err = wait.PollUntilContextTimeout(ctx, 50*time.Millisecond, 5*time.Minute, false, func(ctx context.Context) (bool, error) {
		return access.Healthy(ctx, client, server+"/readyz") == nil, nil
	})
	if err != nil {
		return 0, fmt.Errorf("the floor's kube-apiserver is not ready: %w", err)
	}
	return time.Since(start).Seconds(), nil
}

// copy copies the local file to floorDir on the node, as scp does.
func (f *floor) copy(ctx context.Context, local string) error {
	name := "kube-apiserver"
	if local == f.dlv {
		name = "dlv"
	}
	n := f.n
	dst := path.Join(floorDir, name)
	var cmd *exec.Cmd
	if n.SSH != "" {
		args := append(append([]string{"-q", "-o", "BatchMode=yes"}, n.SSHOptions...), local, n.SSH+":"+dst)
		cmd = exec.CommandContext(ctx, "scp", args...)
	} else {
		in, err := os.Open(local)
		if err != nil {
			return err
		}
		defer in.Close()
		argv, err := n.Command("dd", "of="+dst, "bs=4M")
		if err != nil {
			return err
		}
		cmd = exec.CommandContext(ctx, argv[0], argv[1:]...)
		cmd.Stdin = in
	}
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("copy %s to node %s: %w: %s", local, n.Name, err, out)
	}
	_, err := n.Run(ctx, nil, "chmod", "0700", dst)
	return err
}

// portFree waits until nothing listens at kube-apiserver's port on the
// node (what a person watches; a pattern of pgrep's would match the shell
// that runs it).
func (f *floor) portFree(ctx context.Context) error {
	return wait.PollUntilContextTimeout(ctx, 500*time.Millisecond, 3*time.Minute, true, func(ctx context.Context) (bool, error) {
		out, err := f.n.Run(ctx, nil, "ss", "-Htln", "sport", "=", ":"+f.port)
		return err == nil && strings.TrimSpace(out) == "", nil
	})
}
