package process

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// PortHolder names the process listening on TCP port, such as
// "pid 4242 (kube-apiserver)", or "" when that cannot be known: the port is
// held by another user's process, or /proc is not there.
func PortHolder(port int) string {
	inodes := listeningInodes(port)
	if len(inodes) == 0 {
		return ""
	}
	procs, _ := os.ReadDir("/proc")
	for _, p := range procs {
		pid, err := strconv.Atoi(p.Name())
		if err != nil {
			continue
		}
		fds, _ := os.ReadDir(filepath.Join("/proc", p.Name(), "fd"))
		for _, fd := range fds {
			link, err := os.Readlink(filepath.Join("/proc", p.Name(), "fd", fd.Name()))
			if err != nil || !strings.HasPrefix(link, "socket:[") {
				continue
			}
			if inodes[strings.TrimSuffix(strings.TrimPrefix(link, "socket:["), "]")] {
				comm, _ := os.ReadFile(filepath.Join("/proc", p.Name(), "comm"))
				return fmt.Sprintf("pid %d (%s)", pid, strings.TrimSpace(string(comm)))
			}
		}
	}
	return ""
}

// listeningInodes returns the socket inodes listening on port, from
// /proc/net/tcp and tcp6.
func listeningInodes(port int) map[string]bool {
	const listen = "0A"
	inodes := map[string]bool{}
	for _, table := range []string{"/proc/net/tcp", "/proc/net/tcp6"} {
		f, err := os.Open(table)
		if err != nil {
			continue
		}
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			fields := strings.Fields(sc.Text())
			if len(fields) < 10 || fields[3] != listen {
				continue
			}
			_, hexPort, ok := strings.Cut(fields[1], ":")
			if p, err := strconv.ParseUint(hexPort, 16, 16); ok && err == nil && int(p) == port {
				inodes[fields[9]] = true
			}
		}
		f.Close()
	}
	return inodes
}

// WaitFree waits, up to timeout, until addr (host:port) can be listened
// on: whatever held it has let it go. It returns ctx's error, or the last
// failure to listen when the time is up.
func WaitFree(ctx context.Context, timeout time.Duration, addr string) error {
	var err error
	free := WaitFor(ctx, timeout, func() bool {
		var l net.Listener
		if l, err = net.Listen("tcp", addr); err == nil {
			l.Close()
		}
		return err == nil
	})
	switch {
	case ctx.Err() != nil:
		return ctx.Err()
	case !free:
		return fmt.Errorf("%s is still in use: %v", addr, err)
	}
	return nil
}
