// Package node runs this machine's node: it checks the machine can, talks
// to the environment's own containerd over CRI, and builds and imports
// the images the node needs offline.
package node

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
)

// cniDirs are where distributions install the CNI plugins: Debian's
// containernetworking-plugins, and upstream's tarball.
var cniDirs = []string{"/usr/lib/cni", "/opt/cni/bin"}

// cniPlugins are the plugins the node's network uses; containerd runs
// loopback itself.
var cniPlugins = []string{"bridge", "host-local", "loopback", "portmap"}

// commands are what the node runs from the machine, and the Debian
// package of each.
var commands = [][2]string{
	{"containerd", "containerd"},
	{"containerd-shim-runc-v2", "containerd"},
	{"ctr", "containerd"},
	{"runc", "runc"},
	{"iptables", "iptables"},
	{"iptables-save", "iptables"},
	{"iptables-restore", "iptables"},
	{"gcc", "gcc"},
	{"nsenter", "util-linux"},
}

// CNIBinDir is the directory of the machine's CNI plugins; Debian's when
// none is installed.
func CNIBinDir() string {
	for _, dir := range cniDirs {
		if _, err := os.Stat(filepath.Join(dir, "bridge")); err == nil {
			return dir
		}
	}
	return cniDirs[0]
}

// Check says what this machine lacks to run a node, all at once, and what
// to do about it; nil when it lacks nothing.
func Check() error {
	if runtime.GOOS != "linux" {
		return fmt.Errorf("a node needs Linux; on %s, simulate nodes with component \"kwok\" { nodes = 3 } instead of kubelet and kube-proxy", runtime.GOOS)
	}
	var problems, packages []string
	want := func(pkg string) {
		if !slices.Contains(packages, pkg) {
			packages = append(packages, pkg)
		}
	}
	if os.Geteuid() != 0 {
		problems = append(problems, "the kubelet, containerd and kube-proxy run as root: run kenv up as root (sudo -E)")
	}
	for _, c := range commands {
		if _, err := exec.LookPath(c[0]); err != nil {
			problems = append(problems, c[0]+" is not installed")
			want(c[1])
		}
	}
	dir := CNIBinDir()
	for _, p := range cniPlugins {
		if _, err := os.Stat(filepath.Join(dir, p)); err != nil {
			problems = append(problems, fmt.Sprintf("the CNI plugin %s is not in %s", p, strings.Join(cniDirs, " or ")))
			want("containernetworking-plugins")
		}
	}
	if entries, err := os.ReadDir("/sys/fs/cgroup"); err != nil || len(entries) == 0 {
		problems = append(problems, "no cgroup hierarchy is mounted at /sys/fs/cgroup")
	}
	if len(problems) == 0 {
		return nil
	}
	msg := "this machine cannot run a node:\n  " + strings.Join(problems, "\n  ")
	if len(packages) > 0 {
		msg += "\ninstall what is missing (Debian, Ubuntu): apt-get install " + strings.Join(packages, " ")
	}
	return fmt.Errorf("%s\nor simulate nodes, without a runtime or root: component \"kwok\" { nodes = 3 } instead of kubelet and kube-proxy", msg)
}
