//go:build e2e

package main_test

import (
	"regexp"
	"strings"
	"testing"
)

// TestBenchShort runs `kenv bench --short` as CI does: the real components
// up and down, by kenv and by hand, interleaved. It fails only when the
// bench cannot measure, never on a figure: each row must hold figures.
func TestBenchShort(t *testing.T) {
	k, specPath, ports := newEnvironment(t, "bench", "", "")
	out := k.mustRun("bench", "--short", "--runs", "1", specPath)
	rows := map[string]*regexp.Regexp{
		// kenv's figure, the floor's, and their ratio.
		"up, no Delve":                     regexp.MustCompile(`up, no Delve +\d+\.\d\d s +\d+\.\d\d s +started by hand, etcd up +\d+\.\d\d `),
		"up, under Delve as the spec says": regexp.MustCompile(`up, under Delve as the spec says +\d+\.\d\d s +\d+\.\d\d s +by hand, dlv exec --continue +\d+\.\d\d `),
		"re-up, no change":                 regexp.MustCompile(`re-up, no change +\d+\.\d\d s +\d+\.\d\d s +kenv's first up of a new environment +\d+\.\d\d `),
		"edit in pkg/scheduler":            regexp.MustCompile(`save → ready, a line in pkg/scheduler +\d+\.\d\d s +\d+\.\d\d s +go build of the scheduler \+ start by hand +\d+\.\d\d `),
		"edit in k8s.io/apiserver":         regexp.MustCompile(`save → ready, a line in k8s.io/apiserver +\d+\.\d\d s +\d+\.\d\d s +go build of kube-apiserver \+ start by hand +\d+\.\d\d `),
		"down, no Delve":                   regexp.MustCompile(`down, no Delve, to no process and no port +\d+\.\d\d s +\d+\.\d\d s `),
		"down, under Delve":                regexp.MustCompile(`down, under Delve as the spec says +\d+\.\d\d s +\d+\.\d\d s `),
		"supervisor memory":                regexp.MustCompile(`supervisor memory, idle, etcd embedded +\d+\.\d\d MB `),
		"snapshot restore":                 regexp.MustCompile(`snapshot restore, 1000 ConfigMaps, as the spec says +\d+\.\d\d s +\d+\.\d\d s +kenv down, then kenv up -d +\d+\.\d\d `),
	}
	for name, re := range rows {
		if !re.MatchString(out) {
			t.Errorf("the table has no figures for %q:\n%s", name, out)
		}
	}
	// The short mode leaves out what needs a second build, and says so.
	if !strings.Contains(out, "all -N -l") || !strings.Contains(out, "floor not measured") {
		t.Errorf("the short table does not say which floor it left out:\n%s", out)
	}
	// Nothing the bench started is left listening.
	assertPortsClosed(t, ports)
}
