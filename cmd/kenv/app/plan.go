package app

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"

	"github.com/hashicorp/hcl/v2"
	"github.com/spf13/cobra"

	"github.com/kenv-dev/kenv/env/build"
	"github.com/kenv-dev/kenv/env/layout"
	"github.com/kenv-dev/kenv/env/lock"
	"github.com/kenv-dev/kenv/env/node"
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

// newPlanCommand is `kenv plan`; survey finds what the plan takes from the
// machine (plan.Survey), which its golden tests fix.
func newPlanCommand(streams Streams, survey func() plan.Machine) *cobra.Command {
	var output string
	cmd := &cobra.Command{
		Use:   "plan SPEC",
		Short: "Print what `kenv up` would do, without building or starting anything",
		Long: `Print what ` + "`kenv up`" + ` would do for SPEC: the source, the build command, each
certificate, each file written, and each component's full command line, ready
to paste into a shell. Nothing is downloaded, built, written or started.
With -o json, the plan itself, as up carries it out.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			s, env, cache, err := loadSpecEnv(args[0], streams)
			if err != nil {
				return err
			}
			d, err := decidePlan(cmd.Context(), s, env, cache, survey())
			if err != nil {
				return err
			}
			p, locked, diags, cached := d.plan, d.lock, d.lockDiags, d.cached
			if output == "json" {
				enc := json.NewEncoder(streams.Out)
				enc.SetIndent("", "  ")
				return enc.Encode(p)
			}
			writePlan(streams.Out, p, s, cached, lockStatus(s, locked, diags))
			return nil
		},
	}
	cmd.Flags().StringVarP(&output, "output", "o", "", "output format: json")
	return cmd
}

// decided is a plan decided as up would decide it.
type decided struct {
	plan *plan.Plan
	// lock is the lock beside the spec, nil without one; lockDiags why it
	// cannot be read.
	lock      *lock.Lock
	lockDiags hcl.Diagnostics
	// cached says whether the source is in the cache already.
	cached bool
}

// decidePlan decides the plan of s as up would, from the lock beside it
// and the sources as the cache holds them (source.Peek: nothing is got).
func decidePlan(ctx context.Context, s *spec.Spec, env layout.Env, cache layout.Cache, machine plan.Machine) (decided, error) {
	var d decided
	d.lock, _, d.lockDiags = lock.Read(lock.PathFor(s.File))
	tree, cached, err := source.Peek(ctx, cache, plan.Where(s, d.lock))
	if err != nil {
		return d, err
	}
	d.cached = cached
	trees := map[string]*source.Tree{}
	for _, own := range plan.Owns(s, d.lock) {
		if trees[own.Name], _, err = source.Peek(ctx, cache, own.Where); err != nil {
			return d, fmt.Errorf("%s: %w", own.Name, err)
		}
	}
	d.plan, err = plan.Decide(plan.Inputs{Spec: s, Lock: d.lock, Env: env, Cache: cache, Tree: tree, Trees: trees, Machine: machine})
	return d, err
}

// lockStatus says what up does with the lock of s.
func lockStatus(s *spec.Spec, locked *lock.Lock, diags hcl.Diagnostics) string {
	path := lock.PathFor(s.File)
	switch {
	case diags.HasErrors():
		return fmt.Sprintf("%s cannot be read: %s", path, diags.Error())
	case locked == nil:
		return fmt.Sprintf("none yet; up writes %s once it has built", path)
	}
	status := fmt.Sprintf("%s, followed unless the spec differs from it", path)
	if d := lock.Check(s, locked); d.HasErrors() {
		status += fmt.Sprintf("\n  the spec differs from its lock in %d place(s): up refuses it until `kenv lock --update`", len(d))
	}
	return status
}

// writePlan describes p, the plan of s, for a person. cached says whether
// a module source is in the cache already.
func writePlan(w io.Writer, p *plan.Plan, s *spec.Spec, cached bool, lockStatus string) {
	k, tree := s.Kubernetes, p.Source
	fmt.Fprintf(w, "Environment %q from %s, state in %s\n\nSource\n", s.Name, s.File, p.Env.Dir)
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
	fmt.Fprintf(w, "  toolchain: %s\n", toolchainText(p.Toolchain))
	for _, name := range slices.Sorted(maps.Keys(p.Trees)) {
		t := p.Trees[name]
		fmt.Fprintf(w, "  %s from its own source, %s: tree %s, toolchain %s\n", name, t.Source.Version.GitVersion, t.Source.Dir, toolchainText(t.Toolchain))
	}
	fmt.Fprintf(w, "  lock: %s\n", lockStatus)

	fmt.Fprintf(w, "\nBuild (skipped for binaries that are up to date)\n")
	for _, t := range p.AllTrees() {
		fmt.Fprintf(w, "  cd %s\n", shellQuote(t.Source.Dir))
		for _, b := range build.Split(t.Build) {
			argv, buildEnv := build.Command(b)
			fmt.Fprintf(w, "  %s\n", indent(shellCommand(buildEnv, argv), "  "))
		}
	}
	if kw := p.Kwok; kw != nil {
		m := kw.Module
		fmt.Fprintf(w, "  kwok: go install %s/%s@%s into %s (once), with its stages %s\n", m.Path, m.Package, m.Version, kw.Dir, kw.Stages)
	}
	if d := p.DNS; d != nil {
		fmt.Fprintf(w, "  coredns: go install %s@%s into %s (once)\n", d.Module.Path, d.Module.Version, d.Dir)
	}
	if n := p.Nodes; n != nil {
		fmt.Fprintf(w, "  pause image %s: gcc -static %s into %s (once)\n", node.PauseImage, n.PauseSource, n.PauseDir)
	}

	fmt.Fprintf(w, "\nCertificates in %s (kept while valid)\n", p.Env.CertDir())
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

	if nodes := p.Nodes; nodes != nil {
		fmt.Fprintf(w, "\nNodes (as root), each in network and mount namespaces of its own\n")
		fmt.Fprintf(w, "  bridge %s, this machine at %s; kube-apiserver listens there for the nodes\n", nodes.Bridge.Name, nodes.Bridge.Addr)
		fmt.Fprintf(w, "  pods: a /24 of %s per node (the controller-manager's), routed between the nodes and from this machine; Services (%s) from this machine through %s\n",
			nodes.PodCIDR, nodes.ServiceCIDR, nodes.List[0].Name)
		for _, n := range nodes.List {
			fmt.Fprintf(w, "  %s at %s (veth %s), directory %s, cgroup %s\n", n.Name, n.Addr, n.Link, n.Dir, n.CgroupRoot)
			if len(n.Labels) > 0 {
				var labels []string
				for _, k := range slices.Sorted(maps.Keys(n.Labels)) {
					labels = append(labels, k+"="+n.Labels[k])
				}
				fmt.Fprintf(w, "    labels %s\n", strings.Join(labels, ", "))
			}
			if len(n.Taints) > 0 {
				fmt.Fprintf(w, "    taints %s\n", strings.Join(n.Taints, ", "))
			}
		}
		fmt.Fprintf(w, "  images imported into each node's containerd once it is ready: %s (pinned)", node.PauseImage)
		for _, img := range nodes.List[0].Images {
			fmt.Fprintf(w, ", %s", img)
		}
		fmt.Fprintf(w, "\n  down removes the namespaces with all in them, the bridge and the cgroups, and puts back the kernel settings the kubelets change (recorded beside %s)\n", nodes.Record)
	}

	fmt.Fprintf(w, "\nComponents\n")
	for _, c := range p.Components {
		fmt.Fprintf(w, "\n  %s, ready when %s answers 200, log %s\n", c.Name, c.HealthURL, c.LogPath)
		fmt.Fprintf(w, "  starts %s\n", c.Start)
		if t, own := p.Trees[c.Kind]; own {
			fmt.Fprintf(w, "  built from its own source, %s, in %s\n", t.Source.Version.GitVersion, t.Source.Dir)
		}
		if c.Node != "" {
			fmt.Fprintf(w, "  runs in node %s's network and mount namespaces\n", c.Node)
		}
		if c.Debug != nil {
			fmt.Fprintf(w, "  under Delve at %s", c.Debug.Listen)
			if c.Node != "" {
				fmt.Fprintf(w, " in the node, forwarded from this machine's")
			}
			for _, b := range c.Debug.Breakpoints {
				fmt.Fprintf(w, "; breakpoint %q", b.Location)
			}
			fmt.Fprintln(w)
		}
		fmt.Fprintf(w, "  %s\n", indent(shellCommand(c.Env, c.Command()), "  "))
	}
	if nodes := p.Nodes; nodes != nil {
		fmt.Fprintf(w, "\nNodes registered by their kubelets; kenv waits until they are Ready\n")
	}
	if d := p.DNS; d != nil {
		fmt.Fprintf(w, "\nCluster DNS: the Service kube-system/kube-dns at %s (the kubelets' clusterDNS), its endpoint CoreDNS on %s:53\n", d.ServiceIP, d.Address)
	}
	if kw := p.Kwok; kw != nil && len(kw.Nodes) > 0 {
		fmt.Fprintf(w, "\nSimulated nodes, registered once kwok is ready\n  %s … %s (%d)\n", kw.Nodes[0], kw.Nodes[len(kw.Nodes)-1], len(kw.Nodes))
	}
}

func toolchainText(t plan.Toolchain) string {
	switch t.From {
	case "spec":
		return "Go " + t.Go + " (pinned by the spec)"
	case "lock":
		return "Go " + t.Go + " (locked)"
	case "":
		return "the Go version in the source's .go-version"
	}
	return "Go " + t.Go + " (" + t.From + ")"
}

func indent(s, prefix string) string {
	return strings.ReplaceAll(s, "\n", "\n"+prefix)
}
