//go:build e2e

package main_test

import (
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/version"
	"k8s.io/client-go/kubernetes"
)

// TestEndToEndEmulation brings an environment up as its binaries' own
// release, then again emulating the release before (the kubernetes
// block's emulated_version, KEP-4330) on the same etcd data: kenv plan
// shows the control plane's --emulated-version, /version says the
// binary's version and the emulated one, the API group versions the
// emulated release did not serve are gone while what was stored stays,
// and an emulated version the binary does not take is refused at the
// spec's line.
func TestEndToEndEmulation(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs Kubernetes")
	}
	binary := version.MustParseGeneric(e2eVersion())
	if binary.Minor() < 33 {
		t.Skipf("Kubernetes %s emulates at most its own release", e2eVersion())
	}
	emulated := fmt.Sprintf("1.%d", binary.Minor()-1)
	work := t.TempDir()
	k := kenvCLI{t: t, bin: kenvBinary, home: filepath.Join(work, "state")}
	p := freePorts(t, 5)
	specPath := filepath.Join(work, "emulated.hcl")
	writeSpec := func(emulation string) {
		writeFile(t, specPath, controlPlaneSpec(p, controlPlane{kubernetes: emulation}))
	}
	t.Cleanup(func() { _, _ = k.run("down", "--name", "emulated") })
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()

	writeSpec("")
	k.mustRun("up", "-d", "--timeout", "5m", specPath)
	cs := clientset(t, strings.TrimSpace(k.mustRun("kubeconfig", "--name", "emulated")))
	own := groupVersions(t, cs)
	if _, err := cs.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "before-emulation"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	k.mustRun("down", "--name", "emulated")

	writeSpec(fmt.Sprintf("emulated_version = %q", emulated))
	if plan := k.mustRun("plan", specPath); strings.Count(plan, "--emulated-version=kube="+emulated) != 3 {
		t.Errorf("kenv plan does not show --emulated-version=kube=%s on the three control-plane components:\n%s", emulated, plan)
	}
	k.mustRun("up", "-d", "--timeout", "5m", specPath)
	info, err := cs.Discovery().ServerVersion()
	if err != nil {
		t.Fatal(err)
	}
	if info.GitVersion != e2eVersion() || info.EmulationMajor+"."+info.EmulationMinor != emulated {
		t.Errorf("/version says %s emulating %s.%s, want %s emulating %s", info.GitVersion, info.EmulationMajor, info.EmulationMinor, e2eVersion(), emulated)
	}
	var gone []string
	now := groupVersions(t, cs)
	for _, gv := range own {
		if !slices.Contains(now, gv) {
			gone = append(gone, gv)
		}
	}
	t.Logf("FIGURE group versions %s serves emulating %s: %d of its own %d; not served: %s", e2eVersion(), emulated, len(now), len(own), strings.Join(gone, ", "))
	if len(gone) == 0 {
		t.Errorf("emulating %s, kube-apiserver %s serves every group version it serves as itself", emulated, e2eVersion())
	}
	if e2eVersion() == "v1.34.4" && !slices.Contains(gone, "resource.k8s.io/v1") {
		t.Errorf("emulating 1.33, kube-apiserver v1.34.4 serves resource.k8s.io/v1, GA in 1.34")
	}
	for _, gv := range now {
		if !slices.Contains(own, gv) {
			t.Errorf("emulating %s, kube-apiserver serves %s, which it does not serve as itself", emulated, gv)
		}
	}
	if _, err := cs.CoreV1().Namespaces().Get(ctx, "before-emulation", metav1.GetOptions{}); err != nil {
		t.Errorf("the namespace made before the emulation: %v", err)
	}
	var st struct {
		Components []struct{ Name, Status string }
	}
	if err := json.Unmarshal([]byte(k.mustRun("status", "--name", "emulated", "-o", "json")), &st); err != nil {
		t.Fatal(err)
	}
	for _, c := range st.Components {
		if c.Status != "ready" {
			t.Errorf("%s is %s emulating %s", c.Name, c.Status, emulated)
		}
	}

	// One release further back than the binary emulates.
	floor := max(binary.Minor()-3, 31)
	writeSpec(fmt.Sprintf("emulated_version = \"1.%d\"", floor-1))
	out, err := k.run("plan", specPath)
	if err == nil || strings.Count(out, "Emulated version not supported") != 1 || !strings.Contains(out, "emulated.hcl line 4, in kubernetes") ||
		!strings.Contains(strings.Join(strings.Fields(out), " "), fmt.Sprintf("kube-apiserver %s emulates 1.%d to 1.%d, not 1.%d.", e2eVersion(), floor, binary.Minor(), floor-1)) {
		t.Errorf("an emulated version out of range: %v\n%s", err, out)
	}
}

// groupVersions are the API group versions cs's server serves, sorted.
func groupVersions(t *testing.T, cs *kubernetes.Clientset) []string {
	t.Helper()
	groups, err := cs.Discovery().ServerGroups()
	if err != nil {
		t.Fatal(err)
	}
	var gvs []string
	for _, g := range groups.Groups {
		for _, v := range g.Versions {
			gvs = append(gvs, v.GroupVersion)
		}
	}
	slices.Sort(gvs)
	return gvs
}
