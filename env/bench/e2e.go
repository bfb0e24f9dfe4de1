package bench

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/kenv-dev/kenv/env/build"
	"github.com/kenv-dev/kenv/env/layout"
)

// e2eFocus is the e2e test the bench runs: API-only, conformance, short.
const e2eFocus = "Discovery should validate PreferredVersion for each APIGroup"

// measureE2E measures a second `kenv e2e` of one test, which builds
// nothing, against ginkgo running the cached e2e.test by hand with the
// same flags.
func (b *bench) measureE2E(ctx context.Context, r *Report) error {
	b.progress("kenv e2e: e2e.test and ginkgo built once")
	if _, err := b.up(ctx, b.home, false); err != nil {
		return err
	}
	e2e := []string{"e2e", "--name", b.o.Spec.Name, "--focus", e2eFocus}
	if _, err := b.kenv(ctx, b.home, nil, e2e...); err != nil {
		return err
	}
	env := layout.NewEnv(b.home, b.o.Spec.Name)
	bin := b.plain.Tree.Build.OutDir
	report, err := os.MkdirTemp(b.home, "e2e-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(report)
	byHand := []string{filepath.Join(bin, build.Ginkgo), "--no-color", "--nodes=1", "--output-dir=" + report, "--junit-report=junit.xml",
		"--focus=" + e2eFocus, filepath.Join(bin, build.E2ETest), "--",
		"--kubeconfig=" + env.Kubeconfig("admin"), "--provider=skeleton", "--kubectl-path=" + filepath.Join(b.plain.BinDir, "kubectl"), "--report-dir=" + report}
	if b.plain.Nodes == nil && b.plain.Kwok == nil {
		byHand = append(byHand, "--num-nodes=0", "--allowed-not-ready-nodes=-1")
	}
	row := r.row(rowE2E)
	for i := range b.o.Runs {
		b.progress(fmt.Sprintf("kenv e2e, run %d of %d", i+1, b.o.Runs))
		t, err := b.kenv(ctx, b.home, nil, e2e...)
		if err != nil {
			return err
		}
		row.Kenv = append(row.Kenv, t)
		if t, err = timed(ctx, byHand); err != nil {
			return err
		}
		row.Floor = append(row.Floor, t)
	}
	_, err = b.down(ctx, b.home)
	return err
}

// timed runs argv and returns how long it took.
func timed(ctx context.Context, argv []string) (float64, error) {
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	var out strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &out
	start := time.Now()
	if err := cmd.Run(); err != nil {
		return 0, fmt.Errorf("%s: %w\n%s", strings.Join(argv, " "), err, out.String())
	}
	return time.Since(start).Seconds(), nil
}
