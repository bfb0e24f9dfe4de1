package bench

import (
	"context"
	"fmt"

	"golang.org/x/sync/errgroup"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/kenv-dev/kenv/env/access"
	"github.com/kenv-dev/kenv/env/layout"
)

// restoreObjects is how many objects the environment a restore is
// measured on holds, besides its own.
const restoreObjects = 1000

// measureRestore measures `kenv snapshot restore` of the spec's
// environment holding restoreObjects ConfigMaps, against what it stands
// for by hand: `kenv down`, then `kenv up -d`, on the same data.
func (b *bench) measureRestore(ctx context.Context, r *Report) error {
	b.progress(fmt.Sprintf("snapshot: %d ConfigMaps, saved", restoreObjects))
	if _, err := b.up(ctx, b.home, true); err != nil {
		return err
	}
	env := layout.NewEnv(b.home, b.o.Spec.Name)
	cfg, err := access.Config(env.Kubeconfig("admin"), "")
	if err != nil {
		return err
	}
	cfg.QPS, cfg.Burst = 500, 500
	client, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return err
	}
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(16)
	for i := range restoreObjects {
		g.Go(func() error {
			cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("kenv-bench-%d", i)}, Data: map[string]string{"i": fmt.Sprint(i)}}
			_, err := client.CoreV1().ConfigMaps("default").Create(gctx, cm, metav1.CreateOptions{})
			return err
		})
	}
	if err := g.Wait(); err != nil {
		return fmt.Errorf("create the ConfigMaps: %w", err)
	}
	name := []string{"--name", b.o.Spec.Name}
	if _, err := b.kenv(ctx, b.home, nil, append([]string{"snapshot", "save", "bench"}, name...)...); err != nil {
		return err
	}
	row := r.row(rowRestore)
	for i := range b.o.Runs {
		b.progress(fmt.Sprintf("snapshot restore, run %d of %d", i+1, b.o.Runs))
		t, err := b.kenv(ctx, b.home, nil, append([]string{"snapshot", "restore", "bench"}, name...)...)
		if err != nil {
			return err
		}
		row.Kenv = append(row.Kenv, t)
		down, err := b.kenv(ctx, b.home, nil, append([]string{"down"}, name...)...)
		if err != nil {
			return err
		}
		up, err := b.up(ctx, b.home, true)
		if err != nil {
			return err
		}
		row.Floor = append(row.Floor, down+up)
	}
	_, err = b.down(ctx, b.home)
	return err
}
