// Package host keeps what an environment's nodes hold on this machine, so
// that `kenv down` leaves it as it found it. Everything a node changes in
// the network (iptables chains and rules, routes, interfaces, per-network
// kernel settings) and every mount it makes are in the node's own
// namespaces, which go with it; what remains on the machine is the
// environment's bridge, the nodes' cgroups and the kernel settings that
// are not per network namespace, which the kubelets write.
package host

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/google/renameio/v2"
	"github.com/hashicorp/go-multierror"
	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// sysctls are the kernel settings a kubelet writes that no network
// namespace holds: its kernel tunables.
var sysctls = []string{
	"vm/overcommit_memory", "vm/panic_on_oom", "kernel/panic", "kernel/panic_on_oops",
	"kernel/keys/root_maxkeys", "kernel/keys/root_maxbytes",
}

// procSys is where the kernel settings are; a variable for the tests.
var procSys = "/proc/sys"

// machineDir holds the record of the machine's kernel settings as they
// were before the first environment with nodes, shared by every
// environment that runs nodes at the time; a variable for the tests.
var machineDir = "/run/kenv"

// machineRecord is what machineDir/record.json holds.
type machineRecord struct {
	// Sysctls maps a file under /proc/sys to its value.
	Sysctls map[string]string
	// Holders are the records of the environments whose nodes run; the
	// last to go puts the settings back.
	Holders []string
}

// Take records the machine's kernel settings for the environment whose
// record file is record, unless another environment that runs nodes
// recorded them first: the machine as it was before kenv.
func Take(record string) error {
	return withMachine(func(m *machineRecord) error {
		if m.Sysctls == nil {
			m.Sysctls = map[string]string{}
			for _, name := range sysctls {
				if v, err := os.ReadFile(filepath.Join(procSys, name)); err == nil {
					m.Sysctls[name] = strings.TrimSpace(string(v))
				}
			}
		}
		if !slices.Contains(m.Holders, record) {
			m.Holders = append(m.Holders, record)
		}
		if err := os.MkdirAll(filepath.Dir(record), 0o700); err != nil {
			return err
		}
		return renameio.WriteFile(record, []byte(machineDir+"\n"), 0o600)
	})
}

// Restore lets go of the machine for the environment whose record file is
// record; the last environment to go writes the kernel settings back. No
// record, nothing to do.
func Restore(record string) error {
	if _, err := os.Stat(record); errors.Is(err, os.ErrNotExist) {
		return nil
	}
	err := withMachine(func(m *machineRecord) error {
		// A holder whose record is gone was swept by hand.
		m.Holders = slices.DeleteFunc(m.Holders, func(h string) bool {
			_, err := os.Stat(h)
			return h == record || err != nil
		})
		if len(m.Holders) > 0 {
			return nil
		}
		var errs *multierror.Error
		for name, v := range m.Sysctls {
			path := filepath.Join(procSys, name)
			if now, err := os.ReadFile(path); err == nil && strings.TrimSpace(string(now)) != v {
				errs = multierror.Append(errs, os.WriteFile(path, []byte(v), 0o644))
			}
		}
		m.Sysctls = nil
		return errs.ErrorOrNil()
	})
	if err != nil {
		return fmt.Errorf("put the machine's kernel settings back: %w", err)
	}
	return os.Remove(record)
}

// withMachine runs change on the machine's record under a lock, and
// writes it back; a record without holders is removed, and machineDir
// with it.
func withMachine(change func(*machineRecord) error) error {
	if err := os.MkdirAll(machineDir, 0o700); err != nil {
		return err
	}
	lock, err := os.OpenFile(filepath.Join(machineDir, "lock"), os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return err
	}
	defer lock.Close()
	if err := unix.Flock(int(lock.Fd()), unix.LOCK_EX); err != nil {
		return err
	}
	file := filepath.Join(machineDir, "record.json")
	var m machineRecord
	if raw, err := os.ReadFile(file); err == nil {
		if err := json.Unmarshal(raw, &m); err != nil {
			return fmt.Errorf("%s: %w", file, err)
		}
	} else if !errors.Is(err, os.ErrNotExist) {
		return err
	}
	if err := change(&m); err != nil {
		return err
	}
	if len(m.Holders) == 0 {
		// Removed under the lock; whoever takes it next makes both anew.
		var errs []error
		for _, path := range []string{file, lock.Name(), machineDir} {
			if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
				errs = append(errs, err)
			}
		}
		return errors.Join(errs...)
	}
	raw, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return err
	}
	return renameio.WriteFile(file, raw, 0o600)
}

// Clash names the route of this machine that overlaps prefix, if any,
// other than through the bridge called own: a network of the machine's,
// or another environment's nodes, that a node's range would shadow.
func Clash(prefix netip.Prefix, own string) (string, error) {
	routes, err := netlink.RouteList(nil, netlink.FAMILY_V4)
	if err != nil {
		return "", err
	}
	for _, r := range routes {
		if r.Dst == nil || r.Dst.IP.IsUnspecified() {
			continue // the default route overlaps everything
		}
		dst, ok := netip.AddrFromSlice(r.Dst.IP.To4())
		if !ok {
			continue
		}
		ones, _ := r.Dst.Mask.Size()
		if !netip.PrefixFrom(dst, ones).Overlaps(prefix) {
			continue
		}
		dev := ""
		if link, err := netlink.LinkByIndex(r.LinkIndex); err == nil {
			dev = link.Attrs().Name
		}
		if dev == own {
			continue
		}
		return fmt.Sprintf("the route to %s on %s", r.Dst, dev), nil
	}
	return "", nil
}
