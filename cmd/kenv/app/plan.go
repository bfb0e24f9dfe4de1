package app

import (
	"context"
	"fmt"
	"io"
	"strings"

	"github.com/spf13/cobra"

	"github.com/kenv-dev/kenv/env/build"
	"github.com/kenv-dev/kenv/env/delve"
	"github.com/kenv-dev/kenv/env/layout"
	"github.com/kenv-dev/kenv/env/lock"
	"github.com/kenv-dev/kenv/env/plan"
	"github.com/kenv-dev/kenv/env/source"
	"github.com/kenv-dev/kenv/env/spec"
	"github.com/kenv-dev/kenv/pki"
)

func newValidateCommand(streams Streams) *cobra.Command {
	return &cobra.Command{
		Use:   "validate SPEC",
		Short: "Check a spec and report every problem with its file:line:col",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if _, err := loadSpec(args[0], streams); err != nil {
				return err
			}
			fmt.Fprintf(streams.Out, "%s is valid.\n", args[0])
			return nil
		},
	}
}

func newPlanCommand(streams Streams) *cobra.Command {
	return &cobra.Command{
		Use:   "plan SPEC",
		Short: "Print what `kenv up` would do, without building or starting anything",
		Long: `Print what ` + "`kenv up`" + ` would do for SPEC: the source, the build command, each
certificate, each file written, and each component's full command line, ready
to paste into a shell. Nothing is downloaded, built, written or started.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			s, env, cache, err := loadSpecEnv(args[0], streams)
			if err != nil {
				return err
			}
			return writePlan(cmd.Context(), streams.Out, s, env, cache)
		},
	}
}

// writePlan describes what up does for s. Where the source is not in the
// cache yet and the spec pins no Go, the toolchain, and so the Delve
// release, are not known.
func writePlan(ctx context.Context, w io.Writer, s *spec.Spec, env layout.Env, cache layout.Cache) error {
	var (
		tree   *source.Tree
		cached bool
		k      = s.Kubernetes
	)
	switch {
	case k.Path != "":
		var err error
		if tree, err = source.FromPath(ctx, k.Path); err != nil {
			return err
		}
	case k.Git != "":
		// Resolving the ref may mean cloning: plan does not.
		tree = &source.Tree{Key: "git", Dir: "<a worktree of " + k.Git + " at " + k.Ref + " in " + cache.Dir + ">"}
	default:
		tree, cached = source.Cached(cache, k.Version)
		if tree == nil {
			key := "kubernetes@" + k.Version
			tree = &source.Tree{Key: key, Dir: cache.SourceDir(key)}
		}
	}
	lockPath := lock.PathFor(s.File)
	locked, _, diags := lock.Read(lockPath)
	toolchain := "Go " + tree.GoVersion + " (.go-version)"
	lock.Settle(s, locked, tree)
	switch {
	case k.Go != "":
		toolchain = "Go " + k.Go + " (pinned by the spec)"
	case locked != nil:
		toolchain = "Go " + locked.Go + " (locked)"
	case tree.GoVersion == "":
		tree.GoVersion, toolchain = "<.go-version>", "the Go version in the source's .go-version"
	}
	binDir := plan.BinDir(cache, s, tree)
	p, err := plan.New(s, env, binDir)
	if err != nil {
		return err
	}

	fmt.Fprintf(w, "Environment %q from %s, state in %s\n\nSource\n", s.Name, s.File, env.Dir)
	switch {
	case k.Git != "":
		fmt.Fprintf(w, "  %s at %s, mirrored into the cache and checked out in a worktree of the mirror\n", k.Git, k.Ref)
	case k.Path != "":
		fmt.Fprintf(w, "  the checkout %s, built in place as it is\n  version %s", tree.Dir, tree.Version.GitVersion)
		if tree.Version.GitCommit != "" {
			fmt.Fprintf(w, " (commit %s, %s)", tree.Version.GitCommit, tree.Version.GitTreeState)
		}
		fmt.Fprintln(w)
	case cached:
		fmt.Fprintf(w, "  k8s.io/kubernetes@%s and its staging modules from the Go module proxy\n  tree: %s (cached)\n", k.Version, tree.Dir)
	default:
		fmt.Fprintf(w, "  k8s.io/kubernetes@%s and its staging modules from the Go module proxy\n  tree: %s (to download)\n", k.Version, tree.Dir)
	}
	fmt.Fprintf(w, "  toolchain: %s\n", toolchain)
	switch {
	case diags.HasErrors():
		fmt.Fprintf(w, "  lock: %s cannot be read: %s\n", lockPath, diags.Error())
	case locked == nil:
		fmt.Fprintf(w, "  lock: none yet; up writes %s once it has built\n", lockPath)
	default:
		fmt.Fprintf(w, "  lock: %s, followed unless the spec differs from it\n", lockPath)
		if d := lock.Check(s, locked); d.HasErrors() {
			fmt.Fprintf(w, "  the spec differs from its lock in %d place(s): up refuses it until `kenv lock --update`\n", len(d))
		}
	}

	argv, buildEnv := build.Command(plan.Build(s, tree, binDir))
	fmt.Fprintf(w, "\nBuild (skipped for binaries that are up to date)\n  cd %s\n  %s\n", shellQuote(tree.Dir), indent(shellCommand(buildEnv, argv), "  "))

	fmt.Fprintf(w, "\nCertificates in %s (kept while valid)\n", env.CertDir())
	for _, ca := range pki.CAs {
		fmt.Fprintf(w, "  %-32s CA, CN=%s\n", ca, ca)
	}
	for _, l := range p.Certificates {
		line := fmt.Sprintf("  %-32s CN=%s", l.Name, l.CommonName)
		if len(l.Organization) > 0 {
			line += " O=" + strings.Join(l.Organization, ",")
		}
		line += fmt.Sprintf(", %s, signed by %s", l.Usage, l.CA)
		if len(l.Hosts) > 0 {
			line += ", SANs " + strings.Join(l.Hosts, " ")
		}
		fmt.Fprintln(w, line)
	}
	fmt.Fprintf(w, "  %-32s service account token key (RSA 2048)\n", pki.ServiceAccount)

	fmt.Fprintf(w, "\nFiles\n")
	for _, k := range p.Kubeconfigs {
		fmt.Fprintf(w, "  %s (kubeconfig of %s, server %s)\n", k.Path, k.Client, k.Server)
	}
	for _, f := range p.Files {
		fmt.Fprintf(w, "  %s\n", f.Path)
	}

	fmt.Fprintf(w, "\netcd, embedded in kenv\n  clients %s, peers %s, data in %s\n", p.Etcd.ClientURL, p.Etcd.PeerURL, p.Etcd.DataDir)

	// The Delve of a component, as up finds it.
	dlvFor := func(c plan.Component) string {
		if strings.HasPrefix(tree.GoVersion, "<") {
			return "<dlv for the source's Go version>"
		}
		path, _, err := delve.Locate(cache, lock.DelvePin(locked, c.Name, c.Debug.Dlv), tree.GoVersion)
		if err != nil {
			return "<" + err.Error() + ">"
		}
		return path
	}
	fmt.Fprintf(w, "\nComponents (kube-apiserver first, the others once it is ready)\n")
	for _, c := range p.Components {
		var dlv string
		if c.Debug != nil {
			dlv = dlvFor(c)
		}
		fmt.Fprintf(w, "\n  %s, ready when %s answers 200, log %s\n", c.Name, c.HealthURL, c.LogPath)
		if c.Debug != nil {
			fmt.Fprintf(w, "  under Delve at %s", c.Debug.Listen)
			for _, b := range c.Debug.Breakpoints {
				fmt.Fprintf(w, "; breakpoint %q", b.Location)
			}
			fmt.Fprintln(w)
		}
		fmt.Fprintf(w, "  %s\n", indent(shellCommand(c.Env, c.Command(dlv)), "  "))
	}
	return nil
}

func indent(s, prefix string) string {
	return strings.ReplaceAll(s, "\n", "\n"+prefix)
}
