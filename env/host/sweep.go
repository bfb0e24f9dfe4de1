package host

import (
	"bytes"
	"os"
	"path/filepath"
	"strconv"
	"syscall"

	"github.com/hashicorp/go-multierror"

	"github.com/kenv-dev/kenv/env/ns"
)

// Nodes names what an environment's nodes hold on the machine.
type Nodes struct {
	// Bridge is the environment's bridge.
	Bridge string
	// Record is the file Take wrote.
	Record string
	List   []Node
}

// Node names what one node holds on the machine.
type Node struct {
	Name string
	// NS are the node's namespaces; everything mounted in them, and the
	// pods' network namespaces, go with them.
	NS ns.Node
	// Transient are directories emptied at every sweep: the runtime's
	// state, the node's pod network.
	Transient []string
	// Socket is the runtime's; its shims name it on their command line.
	Socket string
	// CgroupRoot is where the kubelet puts the pods, such as
	// "/kenv-demo-node-0".
	CgroupRoot string
}

// Sweep removes what the nodes left once their kubelets and runtimes have
// stopped, or died: the runtimes' shims and the containers they ran, the
// cgroups, the namespaces with all in them, the transient directories and
// the bridge; then it lets go of the machine's kernel settings. It goes
// on past a failure and reports them all.
func Sweep(h Nodes) error {
	var errs *multierror.Error
	for _, n := range h.List {
		errs = multierror.Append(errs, killShims(n.Socket))
		if n.CgroupRoot != "" {
			errs = multierror.Append(errs, RemoveCgroup(n.CgroupRoot))
		}
		errs = multierror.Append(errs, ns.Remove(n.NS))
		for _, dir := range n.Transient {
			errs = multierror.Append(errs, os.RemoveAll(dir))
		}
	}
	if h.Bridge != "" {
		errs = multierror.Append(errs, ns.Bridge{Name: h.Bridge}.Down())
	}
	errs = multierror.Append(errs, Restore(h.Record))
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
