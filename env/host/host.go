// Package host keeps what a node of kenv changes on the machine, so that
// `kenv down` leaves it as it found it: the iptables chains and rules the
// kubelet, kube-proxy and the CNI plugins add, the kernel settings they
// write, the directories the runtime and the kubelet make where their
// authors fixed the path, and the environment's cgroups, mounts, bridge
// and leftover processes.
package host

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/google/renameio/v2"
	"github.com/hashicorp/go-multierror"
)

// Record is the machine as it was before the node started: what Restore
// puts back.
type Record struct {
	// Iptables holds iptables-save's output of each family ("iptables",
	// "ip6tables").
	Iptables map[string]string
	// Sysctls maps a file under /proc/sys to its value.
	Sysctls map[string]string
	// Absent are directories that did not exist.
	Absent []string
}

// sysctls are the kernel settings the kubelet (its kernel tunables), kube-proxy
// and the bridge plugin write.
var sysctls = []string{
	"vm/overcommit_memory", "vm/panic_on_oom", "kernel/panic", "kernel/panic_on_oops",
	"kernel/keys/root_maxkeys", "kernel/keys/root_maxbytes",
	"net/ipv4/ip_forward", "net/ipv4/conf/all/route_localnet", "net/bridge/bridge-nf-call-iptables",
	"net/bridge/bridge-nf-call-ip6tables", "net/netfilter/nf_conntrack_max",
}

// fixedDirs are directories the runtime, CNI and the kubelet use whatever
// they are told: containerd's shim sockets, libcni's result cache, the
// kubelet's container log links and the paths it keeps under
// /var/lib/kubelet, and /run/mount, where util-linux's mount, which the
// kubelet runs for a pod's tmpfs and bind volumes, keeps its table.
var fixedDirs = []string{"/run/containerd", "/var/lib/cni", "/var/log/containers", "/var/log/pods", "/var/lib/kubelet", "/run/mount"}

// Take records the machine in file, unless file holds a record already:
// one an earlier node took and did not restore, which is the machine as
// it was before kenv.
func Take(file string) error {
	if _, err := os.Stat(file); err == nil {
		return nil
	}
	rec := Record{Iptables: map[string]string{}, Sysctls: map[string]string{}}
	for _, family := range families() {
		out, err := save(family)
		if err != nil {
			return err
		}
		rec.Iptables[family] = out
	}
	for _, name := range sysctls {
		if v, err := os.ReadFile(filepath.Join("/proc/sys", name)); err == nil {
			rec.Sysctls[name] = strings.TrimSpace(string(v))
		}
	}
	for _, dir := range fixedDirs {
		if _, err := os.Lstat(dir); errors.Is(err, os.ErrNotExist) {
			rec.Absent = append(rec.Absent, dir)
		}
	}
	raw, err := json.MarshalIndent(rec, "", "  ")
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(file), 0o700); err != nil {
		return err
	}
	return renameio.WriteFile(file, raw, 0o600)
}

// Restore puts back what file records: it deletes the iptables rules and
// chains added since, writes the kernel settings back and removes the
// directories that were absent; then the record. No record, nothing to
// do.
func Restore(file string) error {
	raw, err := os.ReadFile(file)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	var rec Record
	if err := json.Unmarshal(raw, &rec); err != nil {
		return fmt.Errorf("%s: %w", file, err)
	}
	var errs *multierror.Error
	for family, before := range rec.Iptables {
		errs = multierror.Append(errs, restoreIptables(family, before))
	}
	for name, v := range rec.Sysctls {
		path := filepath.Join("/proc/sys", name)
		if now, err := os.ReadFile(path); err == nil && strings.TrimSpace(string(now)) != v {
			errs = multierror.Append(errs, os.WriteFile(path, []byte(v), 0o644))
		}
	}
	for _, dir := range rec.Absent {
		errs = multierror.Append(errs, os.RemoveAll(dir))
	}
	if err := errs.ErrorOrNil(); err != nil {
		return fmt.Errorf("restore the machine as %s records it: %w", file, err)
	}
	return os.Remove(file)
}
