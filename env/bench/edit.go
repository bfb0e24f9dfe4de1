package bench

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclwrite"
	"github.com/zclconf/go-cty/cty"

	"github.com/kenv-dev/kenv/env/build"
	"github.com/kenv-dev/kenv/env/layout"
	"github.com/kenv-dev/kenv/env/plan"
	"github.com/kenv-dev/kenv/env/process"
	"github.com/kenv-dev/kenv/env/source"
	"github.com/kenv-dev/kenv/env/spec"
	"github.com/kenv-dev/kenv/env/state"
)

// An edit is the one-line change an edit row makes, again at each run: a
// statement at the top of a function the binaries it touches run, so that
// each edit changes their code.
type edit struct {
	row rowKind
	// component is the one whose binary the edit must change; the row is
	// left out for a spec that does not run it.
	component string
	// file is relative to the tree; the statement, with the edit's number
	// for its %d, goes at the top of the function whose declaration
	// starts with fn.
	file, fn, stmt string
}

var edits = []edit{{
	row: rowEditScheduler, component: "kube-scheduler",
	file: "pkg/scheduler/schedule_one.go", fn: "func (sched *Scheduler) schedulingCycle(",
	stmt: `klog.FromContext(ctx).V(5).Info("kenv bench edit", "n", %d)`,
}, {
	row: rowEditAPIServer, component: "kube-apiserver",
	file: "staging/src/k8s.io/apiserver/pkg/server/secure_serving.go", fn: "func (s *SecureServingInfo) Serve(",
	stmt: `klog.V(5).InfoS("kenv bench edit", "n", %d)`,
}}

// apply writes the tree's file with the edit's statement number n in it,
// through a new file renamed over it, as editors save: the checkout's
// files are hard links to the cache's tree, which stays as it is.
func (e edit) apply(tree string, n int) error {
	path := filepath.Join(tree, e.file)
	pristine := path + ".kenv-bench-pristine"
	src, err := os.ReadFile(pristine)
	if os.IsNotExist(err) {
		if src, err = os.ReadFile(path); err == nil {
			err = os.WriteFile(pristine, src, 0o644)
		}
	}
	if err != nil {
		return err
	}
	at := strings.Index(string(src), e.fn)
	if at < 0 {
		return fmt.Errorf("%s has no %s…: the edit rows know Kubernetes releases that have it", path, e.fn)
	}
	body := at + strings.Index(string(src[at:]), "{\n") + 2
	edited := string(src[:body]) + "\t" + fmt.Sprintf(e.stmt, n) + "\n" + string(src[body:])
	tmp := filepath.Join(filepath.Dir(path), ".kenv-bench-edit")
	if err := os.WriteFile(tmp, []byte(edited), 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

// editRuns is a checkout of the spec's tree made for the edit rows, and
// the spec pointed at it.
type editRuns struct {
	dir, checkout, spec string
	// env runs kenv with a cache of its own, so that the checkout's
	// binaries do not stay in the user's.
	env  []string
	home string
	plan *plan.Plan
	// edits are those of the spec's components.
	edits []edit
	// n numbers the edits, so that each changes the program.
	n int
}

// measureEdits fills the edit rows: save → the edit's component ready
// again, under `kenv up --watch`, against the incremental go build of that
// binary alone and its start by hand. kenv's runs go first, then the
// floor's: both need the spec's ports.
func (b *bench) measureEdits(ctx context.Context, r *Report) error {
	e, err := b.prepareEdits(ctx)
	if err != nil || e == nil {
		return err
	}
	defer os.RemoveAll(e.dir)

	b.progress("edits: kenv up --watch on a checkout of the source")
	if _, err := b.kenv(ctx, e.home, e.env, "up", "-d", "--watch", e.spec); err != nil {
		return err
	}
	// Before its state goes with the directory.
	defer func() {
		if _, err := readState(e.home, b.o.Spec.Name); err == nil {
			_, _ = b.kenv(context.Background(), e.home, e.env, "down", "--name", b.o.Spec.Name)
		}
	}()
	log := layout.NewEnv(e.home, b.o.Spec.Name).Log("kenv")
	if err := waitWatching(ctx, log); err != nil {
		return err
	}
	err = b.eachEdit(e, "kenv", func(ed edit) error {
		t, err := e.kenvRound(ctx, ed, log)
		r.row(ed.row).Kenv = append(r.row(ed.row).Kenv, t)
		return err
	})
	if err != nil {
		return err
	}
	if _, err := b.down(ctx, e.home); err != nil {
		return err
	}

	h, err := b.startEtcdByHand(ctx, e.plan)
	if err != nil {
		return err
	}
	defer h.close()
	if err := h.start(ctx, e.plan.Components); err != nil {
		return err
	}
	return b.eachEdit(e, "by hand", func(ed edit) error {
		t, err := e.handRound(ctx, h, ed)
		r.row(ed.row).Floor = append(r.row(ed.row).Floor, t)
		return err
	})
}

// eachEdit runs round for each edit, the runs asked for, until one fails.
func (b *bench) eachEdit(e *editRuns, who string, round func(edit) error) error {
	for i := range b.o.Runs {
		for _, ed := range e.edits {
			b.progress(fmt.Sprintf("edits: %s, %s, run %d of %d", who, ed.file, i+1, b.o.Runs))
			if err := round(ed); err != nil {
				return err
			}
		}
	}
	return nil
}

// prepareEdits makes the checkout, hard linked to the spec's tree, the
// spec with `kubernetes { path }` naming it, and its plan; nil when the
// spec runs none of the components the edits are for.
func (b *bench) prepareEdits(ctx context.Context) (*editRuns, error) {
	e := &editRuns{}
	for _, ed := range edits {
		if b.o.Spec.Component(ed.component) != nil {
			e.edits = append(e.edits, ed)
		}
	}
	if len(e.edits) == 0 {
		return nil, nil
	}
	var err error
	if e.dir, err = os.MkdirTemp(b.home, "edits-"); err != nil {
		return nil, err
	}
	e.checkout, e.home = filepath.Join(e.dir, "kubernetes"), filepath.Join(e.dir, "home")
	b.progress("edits: a checkout of the source, hard linked")
	if err := linkTree(b.debugged.Source.Dir, e.checkout); err != nil {
		return nil, err
	}
	_ = os.Remove(filepath.Join(e.checkout, source.MarkerFile))
	cache := filepath.Join(e.dir, "cache")
	if err := linkTree(filepath.Join(b.o.Cache.Dir, "dlv"), filepath.Join(cache, "dlv")); err != nil && !os.IsNotExist(err) {
		return nil, err
	}
	e.env = []string{"KENV_CACHE=" + cache}
	if e.spec, err = specFor(b.o.Spec.File, e.checkout, e.dir); err != nil {
		return nil, err
	}
	s, _, diags := spec.ParseFile(e.spec, plan.Catalog())
	if diags.HasErrors() {
		return nil, fmt.Errorf("the spec pointed at the checkout: %v", diags)
	}
	tree, err := source.FromPath(ctx, e.checkout)
	if err != nil {
		return nil, err
	}
	// The bench measures the spec as it is written, under Delve where it says.
	e.plan, err = plan.Decide(plan.Inputs{Spec: s, Env: layout.NewEnv(b.home, s.Name), Cache: layout.Cache{Dir: cache}, Tree: tree, Machine: plan.Survey()})
	return e, err
}

// specFor writes, in dir, the spec at path with its source the checkout.
func specFor(path, checkout, dir string) (string, error) {
	src, err := os.ReadFile(path)
	if err != nil {
		return "", err
	}
	f, diags := hclwrite.ParseConfig(src, path, hcl.InitialPos)
	if diags.HasErrors() {
		return "", diags
	}
	k := f.Body().FirstMatchingBlock("kubernetes", nil)
	if k == nil {
		return "", fmt.Errorf("%s has no kubernetes block", path)
	}
	k.Body().Clear()
	k.Body().AppendNewline()
	k.Body().SetAttributeValue("path", cty.StringVal(checkout))
	out := filepath.Join(dir, filepath.Base(path))
	return out, os.WriteFile(out, f.Bytes(), 0o644)
}

// kenvRound saves the edit and waits until kenv's state says the edit's
// component runs a new process, ready; a failed round of the watch loop,
// in the supervisor's log, ends it. The round goes on with the other
// components compiled from the file; the next edit waits for its end.
func (e *editRuns) kenvRound(ctx context.Context, ed edit, log string) (float64, error) {
	seen, err := os.ReadFile(log)
	if err != nil {
		return 0, err
	}
	env := layout.NewEnv(e.home, e.plan.Name)
	st, err := state.Read(env)
	if err != nil {
		return 0, err
	}
	before := map[string]int{}
	for _, c := range st.Components {
		before[c.Name] = c.Process.Pid
	}
	e.n++
	if err := ed.apply(e.checkout, e.n); err != nil {
		return 0, err
	}
	saved := time.Now()
	ctx, cancel := context.WithTimeout(ctx, readyWithin)
	defer cancel()
	var took float64
	for {
		if st, err := state.Read(env); err == nil && took == 0 {
			for _, c := range st.Components {
				if c.Name == ed.component && c.Process.Pid != before[c.Name] && c.Status == state.Ready {
					took = time.Since(saved).Seconds()
				}
			}
		}
		raw, err := os.ReadFile(log)
		if err != nil {
			return 0, err
		}
		switch round := string(raw[min(len(seen), len(raw)):]); {
		case strings.Contains(round, "✗ "):
			return 0, fmt.Errorf("the watch loop's round for %s failed:\n%s", ed.file, round)
		case took > 0 && strings.Contains(round, "↻ "):
			return took, nil
		}
		select {
		case <-ctx.Done():
			return 0, fmt.Errorf("%s not ready again after the edit of %s: %w", ed.component, ed.file, ctx.Err())
		case <-time.After(poll):
		}
	}
}

// handRound saves the edit, runs go build of the edit's component, and
// starts it again: that binary alone, as a person who knows what the edit
// changes would.
func (e *editRuns) handRound(ctx context.Context, h *hand, ed edit) (float64, error) {
	before := programs(e.plan, []string{ed.component})
	e.n++
	if err := ed.apply(e.checkout, e.n); err != nil {
		return 0, err
	}
	began := time.Now()
	req := e.plan.Build
	req.Components = []string{ed.component}
	req = build.Split(req)[0]
	argv, env := build.Command(req)
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.Dir = req.Tree.Dir
	cmd.Env = append(os.Environ(), env...)
	if out, err := cmd.CombinedOutput(); err != nil {
		return 0, fmt.Errorf("go build: %w\n%s", err, out)
	}
	built := time.Since(began)
	if programs(e.plan, []string{ed.component})[ed.component] == before[ed.component] {
		return 0, fmt.Errorf("the edit of %s did not change %s", ed.file, ed.component)
	}
	c, _ := e.plan.Component(ed.component)
	began = time.Now()
	h.stop([]string{c.Name})
	if err := h.start(ctx, []plan.Component{c}); err != nil {
		return 0, err
	}
	return (built + time.Since(began)).Seconds(), nil
}

// programs identifies the code of the named binaries of p
// (build.ProgramID).
func programs(p *plan.Plan, names []string) map[string]string {
	ids := map[string]string{}
	for _, name := range names {
		if f, err := os.Open(filepath.Join(p.Build.OutDir, name)); err == nil {
			ids[name], _ = build.ProgramID(f)
			f.Close()
		}
	}
	return ids
}

// waitWatching waits until the watch loop whose log is at log watches.
func waitWatching(ctx context.Context, log string) error {
	watching := process.WaitFor(ctx, time.Minute, func() bool {
		raw, _ := os.ReadFile(log)
		return strings.Contains(string(raw), "Watching the ")
	})
	if !watching {
		raw, _ := os.ReadFile(log)
		return fmt.Errorf("kenv up --watch does not watch:\n%s", raw)
	}
	return nil
}
