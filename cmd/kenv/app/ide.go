package app

import (
	"cmp"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"

	"github.com/spf13/cobra"

	"github.com/kenv-dev/kenv/env/ide"
	"github.com/kenv-dev/kenv/env/source"
	"github.com/kenv-dev/kenv/env/sourcemap"
	"github.com/kenv-dev/kenv/env/state"
)

func newIDECommand(streams Streams) *cobra.Command {
	var (
		f         envFlags
		print     bool
		workspace string
	)
	cmd := &cobra.Command{
		Use:   "ide vscode|goland",
		Short: "Write editor configurations that attach to the debugged components",
		Long: `Write attach configurations for the components that run under Delve.

  vscode  merges into .vscode/launch.json: one configuration per component and
          a compound for all; your own entries and comments are kept.
  goland  writes .run/kenv-<env>-<component>.run.xml "Go Remote" configurations.

The binaries name their files by module path (-trimpath); VS Code's
substitutePath maps those names to the tree kenv built, or to the workspace
when it is a Kubernetes checkout, and to the toolchain and the module cache.`,
		Args:      cobra.ExactArgs(1),
		ValidArgs: []string{"vscode", "goland"},
		RunE: func(cmd *cobra.Command, args []string) error {
			st, _, err := runningState(&f, streams)
			if err != nil {
				return err
			}
			targets := debugTargets(st)
			if len(targets) == 0 {
				return fmt.Errorf("no component of %q runs under Delve; add a debug {} block in %s", st.Name, st.Spec)
			}
			if workspace, err = filepath.Abs(workspace); err != nil {
				return err
			}
			switch args[0] {
			case "vscode":
				return writeVSCode(st, targets, workspace, print, streams)
			case "goland":
				return writeGoLand(targets, workspace, print, streams)
			default:
				return fmt.Errorf("unknown editor %q; use vscode or goland", args[0])
			}
		},
	}
	f.register(cmd)
	cmd.Flags().BoolVar(&print, "print", false, "print the configuration instead of writing it")
	cmd.Flags().StringVar(&workspace, "workspace", ".", "the editor's workspace folder")
	return cmd
}

func debugTargets(st *state.State) []ide.Target {
	var targets []ide.Target
	for _, c := range st.Components {
		if c.DebugAddress == "" {
			continue
		}
		t := ide.Target{Env: st.Name, Component: c.Name, Address: c.DebugAddress}
		if c.SourceMap != nil {
			// Built from a source of its own: its files are that tree's,
			// not the workspace's.
			t.Mappings = vscodeMappings(c.SourceMap, c.SourceDir, "")
		}
		targets = append(targets, t)
	}
	return targets
}

func writeVSCode(st *state.State, targets []ide.Target, workspace string, print bool, streams Streams) error {
	path := filepath.Join(workspace, ".vscode", "launch.json")
	existing, err := os.ReadFile(path)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	out, err := ide.VSCodeLaunch(existing, targets, vscodeMappings(st.SourceMap, st.SourceDir, workspace))
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	if print {
		_, err := streams.Out.Write(out)
		return err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	if err := os.WriteFile(path, out, 0o644); err != nil {
		return err
	}
	fmt.Fprintf(streams.Out, "wrote %s: %d attach configuration(s); in VS Code, Run and Debug → kenv: %s …\n", path, len(targets), st.Name)
	return nil
}

func writeGoLand(targets []ide.Target, workspace string, print bool, streams Streams) error {
	configs, err := ide.GoLand(targets)
	if err != nil {
		return err
	}
	dir := filepath.Join(workspace, ".run")
	for _, c := range configs {
		path := filepath.Join(dir, c.File)
		if print {
			fmt.Fprintf(streams.Out, "# %s\n%s", path, c.Content)
			continue
		}
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(path, c.Content, 0o644); err != nil {
			return err
		}
		fmt.Fprintf(streams.Out, "wrote %s\n", path)
	}
	return nil
}

// vscodeMappings turns a source map of binaries built from the tree at
// sourceDir into VS Code's substitutePath. When the workspace is a
// Kubernetes checkout, files of the tree kenv built are looked for there
// instead.
func vscodeMappings(sources sourcemap.Map, sourceDir, workspace string) []ide.PathMapping {
	inWorkspace := workspace != "" && source.IsCheckout(workspace) == nil
	var mappings []ide.PathMapping
	for _, r := range sources {
		local := r.To
		if rel, err := filepath.Rel(sourceDir, local); inWorkspace && err == nil && filepath.IsLocal(rel) {
			local = filepath.Join("${workspaceFolder}", rel)
		}
		mappings = append(mappings, ide.PathMapping{From: local, To: r.From})
	}
	// VS Code maps a local file by the first entry whose directory holds
	// it: a staging module's directory before the tree's.
	slices.SortStableFunc(mappings, func(a, b ide.PathMapping) int { return cmp.Compare(len(b.From), len(a.From)) })
	return mappings
}
