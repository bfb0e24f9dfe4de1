package build_test

import (
	"slices"
	"strings"
	"testing"

	"github.com/kenv-dev/kenv/env/build"
	"github.com/kenv-dev/kenv/env/source"
)

func TestCommand(t *testing.T) {
	tree := &source.Tree{Dir: "/cache/src/kubernetes@v1.35.1", Key: "kubernetes@v1.35.1", GoVersion: "1.25.7",
		Version: source.Version{GitVersion: "v1.35.1", GitMajor: "1", GitMinor: "35", BuildDate: "2026-01-02T03:04:05Z"}}
	argv, env := build.Command(build.Request{Tree: tree, Components: []string{"kube-apiserver", "kube-scheduler"}, OutDir: "/out", Unoptimized: true})
	// -trimpath keeps the binaries free of this machine's paths; the
	// symbols and DWARF stay.
	for _, want := range []string{"-trimpath", "-gcflags=all=-N -l", "./cmd/kube-apiserver", "./cmd/kube-scheduler", "-o=/out/"} {
		if !slices.Contains(argv, want) {
			t.Errorf("argv %q lacks %q", argv, want)
		}
	}
	for _, a := range argv {
		if strings.Contains(a, "-s -w") || strings.HasSuffix(a, " -s") || strings.HasSuffix(a, " -w") {
			t.Errorf("argv %q drops debug information with %q", argv, a)
		}
	}
	ldflags := argv[slices.IndexFunc(argv, func(a string) bool { return strings.HasPrefix(a, "-ldflags=") })]
	for _, want := range []string{
		"-X 'k8s.io/component-base/version.gitVersion=v1.35.1'",
		"-X 'k8s.io/client-go/pkg/version.gitVersion=v1.35.1'",
		"-X 'k8s.io/component-base/version.gitMinor=35'",
		"-X 'k8s.io/component-base/version.buildDate=2026-01-02T03:04:05Z'",
	} {
		if !strings.Contains(ldflags, want) {
			t.Errorf("%s lacks %s", ldflags, want)
		}
	}
	if strings.Contains(ldflags, "gitCommit") {
		t.Errorf("%s sets a commit the source does not know", ldflags)
	}
	if !slices.Contains(env, "GOTOOLCHAIN=go1.25.7") || !slices.Contains(env, "GOWORK=/cache/src/kubernetes@v1.35.1/go.work") {
		t.Errorf("env %q", env)
	}

	release, _ := build.Command(build.Request{Tree: tree, Components: []string{"kube-apiserver"}, OutDir: "/out"})
	if slices.Contains(release, "-gcflags=all=-N -l") {
		t.Errorf("a non-debug build disables optimisation")
	}
}

func TestDifferences(t *testing.T) {
	want := build.Provenance{GoVersion: "go1.24.12", Modules: "aa", Settings: map[string]string{
		"-ldflags": "all=-X 'v.gitVersion=v1.34.4' -X 'v.buildDate=2026-02-10T12:53:36Z' -X 'w.buildDate=2026-02-10T12:53:36Z'",
		"GOAMD64":  "v1",
	}}
	if d := want.Differences(want); len(d) != 0 {
		t.Errorf("a provenance differs from itself: %v", d)
	}
	got := build.Provenance{GoVersion: "go1.24.13", Modules: "bb", Settings: map[string]string{
		"-ldflags":     "all=-X 'v.gitVersion=v1.34.4' -X 'v.buildDate=2001-02-03T04:05:06Z' -X 'w.buildDate=2001-02-03T04:05:06Z'",
		"GOAMD64":      "v3",
		"GOEXPERIMENT": "boringcrypto",
	}}
	d := strings.Join(want.Differences(got), "\n")
	for _, w := range []string{
		"built by go1.24.13, locked go1.24.12",
		`build setting -ldflags has "'v.buildDate=2001-02-03T04:05:06Z' 'w.buildDate=2001-02-03T04:05:06Z'", locked "'v.buildDate=2026-02-10T12:53:36Z' 'w.buildDate=2026-02-10T12:53:36Z'"`,
		`build setting GOAMD64 has "v3", locked "v1"`,
		`build setting GOEXPERIMENT has "boringcrypto", locked ""`,
		"module versions and hashes digest to bb, locked aa",
	} {
		if !strings.Contains(d, w) {
			t.Errorf("differences lack %q:\n%s", w, d)
		}
	}
}

// TestE2ESuite: e2e.test is a go test -c of test/e2e, without vet, built
// apart from the commands with the same flags and tags; ginkgo builds with
// the static commands.
func TestE2ESuite(t *testing.T) {
	tree := &source.Tree{Dir: "/cache/src/kubernetes@v1.35.1", Key: "kubernetes@v1.35.1", GoVersion: "1.25.7",
		Version: source.Version{GitVersion: "v1.35.1", GitMajor: "1", GitMinor: "35"}}
	r := build.Request{Tree: tree, Components: []string{"kube-apiserver", build.Ginkgo, build.E2ETest}, OutDir: "/out", Unoptimized: true}
	builds := build.Split(r)
	if len(builds) != 2 || !slices.Equal(builds[0].Components, []string{"kube-apiserver", build.Ginkgo}) || !slices.Equal(builds[1].Components, []string{build.E2ETest}) {
		t.Fatalf("split into %+v", builds)
	}
	static, _ := build.Command(builds[0])
	suite, env := build.Command(builds[1])
	if !slices.Contains(static, "github.com/onsi/ginkgo/v2/ginkgo") || !slices.Contains(static, "-tags=selinux,notest") {
		t.Errorf("the static build: %q", static)
	}
	if !slices.Equal(suite[:5], []string{"go", "test", "-c", "-vet=off", "-o=/out/e2e.test"}) || suite[len(suite)-1] != "./test/e2e" ||
		!slices.Contains(suite, "-tags=selinux,notest") || !slices.Contains(suite, "-gcflags=all=-N -l") || !slices.Contains(env, "CGO_ENABLED=0") {
		t.Errorf("the suite's build: %q %q", suite, env)
	}
}
