package node

import (
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// cniDirsAt points cniDirs at two new directories, the first holding the
// plugins first and the second those second, for the test.
func cniDirsAt(t *testing.T, first, second []string) (string, string) {
	t.Helper()
	dirs := []string{t.TempDir(), t.TempDir()}
	for i, plugins := range [][]string{first, second} {
		for _, p := range plugins {
			if err := os.WriteFile(filepath.Join(dirs[i], p), []byte("plugin"), 0o755); err != nil {
				t.Fatal(err)
			}
		}
	}
	saved := cniDirs
	cniDirs = dirs
	t.Cleanup(func() { cniDirs = saved })
	return dirs[0], dirs[1]
}

func TestCNIBinDir(t *testing.T) {
	all := []string{"bridge", "host-local", "loopback", "portmap"}
	tests := []struct {
		name          string
		first, second []string
		// want is 0 for the first directory, 1 for the second.
		want int
	}{
		{"none installed: Debian's", nil, nil, 0},
		{"Debian's", all, nil, 0},
		{"upstream's", nil, all, 1},
		{"both: Debian's", all, all, 0},
		{"the one with bridge", []string{"portmap"}, []string{"bridge"}, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			first, second := cniDirsAt(t, tt.first, tt.second)
			if got, want := CNIBinDir(), []string{first, second}[tt.want]; got != want {
				t.Errorf("CNIBinDir() = %s, want %s", got, want)
			}
		})
	}
}

// TestCheck checks what Check says of this machine against what the
// machine has: the CNI plugins are the test's, the rest the machine's.
func TestCheck(t *testing.T) {
	tests := []struct {
		name          string
		first, second []string
		missing       []string
	}{
		{"all plugins", []string{"bridge", "host-local", "loopback", "portmap"}, nil, nil},
		{"all plugins, upstream's", nil, []string{"bridge", "host-local", "loopback", "portmap"}, nil},
		{"some plugins", []string{"bridge", "host-local"}, nil, []string{"loopback", "portmap"}},
		// The plugins must be in one directory, the one with bridge.
		{"plugins split", []string{"bridge", "host-local"}, []string{"loopback", "portmap"}, []string{"loopback", "portmap"}},
		{"no plugins", nil, nil, []string{"bridge", "host-local", "loopback", "portmap"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			first, second := cniDirsAt(t, tt.first, tt.second)
			err := Check()
			msg := ""
			if err != nil {
				msg = err.Error()
			}
			var want, wantNot []string
			for _, p := range []string{"bridge", "host-local", "loopback", "portmap"} {
				line := "the CNI plugin " + p + " is not in " + first + " or " + second
				if slices.Contains(tt.missing, p) {
					want = append(want, line)
				} else {
					wantNot = append(wantNot, line)
				}
			}
			var packages []string
			for _, c := range commands {
				line := c[0] + " is not installed"
				if _, err := exec.LookPath(c[0]); err != nil {
					want = append(want, line)
					packages = append(packages, c[1])
				} else {
					wantNot = append(wantNot, line)
				}
			}
			if len(tt.missing) > 0 {
				packages = append(packages, "containernetworking-plugins")
			}
			if os.Geteuid() != 0 {
				want = append(want, "run kenv up as root (sudo -E)")
			} else {
				wantNot = append(wantNot, "as root")
			}
			if len(want) == 0 {
				// The machine lacks nothing or only a cgroup hierarchy.
				if err != nil && !strings.Contains(msg, "no cgroup hierarchy") {
					t.Errorf("Check() = %v, want nil", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("Check() = nil, want it to say %q", want)
			}
			for _, w := range append(want, "this machine cannot run a node:", `component "kwok" { nodes = 3 }`) {
				if !strings.Contains(msg, w) {
					t.Errorf("Check() does not say %q:\n%s", w, msg)
				}
			}
			for _, w := range wantNot {
				if strings.Contains(msg, w) {
					t.Errorf("Check() says %q:\n%s", w, msg)
				}
			}
			// Each package once, in the order of the problems.
			if len(packages) > 0 {
				if got := aptLine(msg); got != "apt-get install "+strings.Join(dedupe(packages), " ") {
					t.Errorf("install line %q, want the packages %v", got, dedupe(packages))
				}
			} else if strings.Contains(msg, "apt-get") {
				t.Errorf("Check() asks to install nothing:\n%s", msg)
			}
		})
	}
}

func dedupe(list []string) []string {
	var out []string
	for _, s := range list {
		if !slices.Contains(out, s) {
			out = append(out, s)
		}
	}
	return out
}

// aptLine is the apt-get command in Check's message.
func aptLine(msg string) string {
	for _, line := range strings.Split(msg, "\n") {
		if _, cmd, ok := strings.Cut(line, "(Debian, Ubuntu): "); ok {
			return cmd
		}
	}
	return ""
}
