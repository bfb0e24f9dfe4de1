package bench

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclwrite"
	"github.com/kenv-dev/kenv/env/lock"
	"github.com/zclconf/go-cty/cty"
)

// nodes measures a spec with several real nodes against the same spec
// with its first node alone, in one run, interleaved: up until every node
// is Ready, and down, both without Delve so that only the nodes differ.
func (b *bench) nodes(ctx context.Context, r *Report) error {
	oneName := b.o.Spec.Name + "-one-node"
	one, err := oneNode(b.o.Spec.File, oneName)
	if err != nil {
		return err
	}
	// up writes the copy's lock beside it.
	defer os.Remove(lock.PathFor(one))
	defer os.Remove(one)
	names := map[string]string{b.o.Spec.File: b.o.Spec.Name, one: oneName}
	// What an interrupted run left up is taken down.
	defer func() {
		if _, err := readState(b.home, oneName); err == nil {
			_, _ = b.kenv(context.Background(), b.home, nil, "down", "--name", oneName)
		}
	}()
	up, down := r.row(rowNodesUp), r.row(rowNodesDown)
	up.What = fmt.Sprintf("up, %d nodes to Ready, no Delve", len(b.o.Spec.Nodes))
	down.What = fmt.Sprintf("down, %d nodes (floor: down of one)", len(b.o.Spec.Nodes))
	for i := range b.o.Runs {
		b.progress(fmt.Sprintf("nodes, run %d of %d", i+1, b.o.Runs))
		for _, spec := range []string{b.o.Spec.File, one} {
			t, err := b.kenv(ctx, b.home, nil, "up", "-d", "--no-debug", spec)
			if err != nil {
				return err
			}
			if err := idle(ctx); err != nil {
				return err
			}
			d, err := b.kenv(ctx, b.home, nil, "down", "--name", names[spec])
			if err != nil {
				return err
			}
			if spec == one {
				up.Floor, down.Floor = append(up.Floor, t), append(down.Floor, d)
			} else {
				up.Kenv, down.Kenv = append(up.Kenv, t), append(down.Kenv, d)
			}
		}
	}
	return nil
}

// oneNode writes, beside the spec file (whose relative paths it keeps), a
// copy of it with its first node block alone, named name, and returns its
// path.
func oneNode(file, name string) (string, error) {
	src, err := os.ReadFile(file)
	if err != nil {
		return "", err
	}
	f, diags := hclwrite.ParseConfig(src, file, hcl.InitialPos)
	if diags.HasErrors() {
		return "", diags
	}
	body := f.Body()
	seen := false
	for _, block := range body.Blocks() {
		if block.Type() != "node" {
			continue
		}
		if seen {
			body.RemoveBlock(block)
		}
		seen = true
	}
	body.SetAttributeValue("name", cty.StringVal(name))
	out, err := os.CreateTemp(filepath.Dir(file), ".kenv-bench-*.hcl")
	if err != nil {
		return "", err
	}
	defer out.Close()
	if _, err := out.Write(f.Bytes()); err != nil {
		return "", err
	}
	return out.Name(), out.Close()
}
