package supervisor

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"time"

	"github.com/google/renameio/v2"
	"github.com/hashicorp/go-multierror"
	"golang.org/x/sync/errgroup"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/kenv-dev/kenv/env/access"
	"github.com/kenv-dev/kenv/env/agent"
	"github.com/kenv-dev/kenv/env/layout"
	"github.com/kenv-dev/kenv/env/plan"
	"github.com/kenv-dev/kenv/env/remote"
	"github.com/kenv-dev/kenv/env/steps"
)

// releaseRE is the release a cluster's gitVersion names, without what a
// distribution appends ("v1.30.2-eks-1234", "v1.31.1+k3s1").
var releaseRE = regexp.MustCompile(`^v\d+\.\d+\.\d+`)

// askCluster reads, for a spec that swaps components of a cluster kenv
// did not make, where the cluster's API server is and the version it
// runs, through the spec's kubeconfig; kenv builds that version unless
// the spec names a source of its own, and says so when the two differ.
// Nothing is changed anywhere.
func (r *Running) askCluster() steps.Step {
	return steps.Step{Do: func(ctx context.Context, pr *steps.Progress) error {
		s := r.opts.Spec
		if s.Cluster == nil {
			return nil
		}
		cfg, err := access.Config(s.Cluster.Kubeconfig, s.Cluster.Context)
		if err != nil {
			return err
		}
		done := pr.Step("cluster at " + cfg.Host)
		facts, client, err := readCluster(ctx, cfg)
		done(err)
		if err != nil {
			return fmt.Errorf("%s: %w\nkenv reads the cluster's version through the kubeconfig %s; check that `kubectl --kubeconfig %s version` works",
				s.Cluster.DeclRange, err, s.Cluster.Kubeconfig, s.Cluster.Kubeconfig)
		}
		r.clusterFacts, r.health = facts, client
		release := releaseRE.FindString(facts.Version)
		switch k := s.Kubernetes; {
		case k.Version == "" && k.Git == "" && k.Path == "":
			if release == "" {
				return fmt.Errorf("the cluster says it runs %q, which names no Kubernetes release; set kubernetes { version = \"v1.x.y\" } (or git, or path) in %s", facts.Version, s.File)
			}
			s.Kubernetes.Version = release
			note := ""
			if release != facts.Version {
				note = " (the release of " + facts.Version + ")"
			}
			pr.Printf("   it runs %s%s: kenv builds kubernetes@%s\n", facts.Version, note, release)
		case k.Version != "" && k.Version != release:
			pr.Printf(" ! the cluster runs %s; kenv builds %s, as the spec says\n", facts.Version, k.Source())
		default:
			pr.Printf("   it runs %s; kenv builds %s, as the spec says\n", facts.Version, k.Source())
		}
		return nil
	}}
}

// readCluster asks the cluster's /version, and returns it with a client
// that asks its health checks with the kubeconfig's credentials.
func readCluster(ctx context.Context, cfg *rest.Config) (plan.ClusterFacts, *http.Client, error) {
	client, err := rest.HTTPClientFor(cfg)
	if err != nil {
		return plan.ClusterFacts{}, nil, err
	}
	client.Timeout = 5 * time.Second
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, strings.TrimSuffix(cfg.Host, "/")+"/version", nil)
	if err != nil {
		return plan.ClusterFacts{}, nil, err
	}
	resp, err := client.Do(req)
	if err != nil {
		return plan.ClusterFacts{}, nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return plan.ClusterFacts{}, nil, fmt.Errorf("GET /version: %s", resp.Status)
	}
	var v struct{ GitVersion, GitCommit string }
	if err := json.NewDecoder(resp.Body).Decode(&v); err != nil {
		return plan.ClusterFacts{}, nil, fmt.Errorf("GET /version: %w", err)
	}
	return plan.ClusterFacts{Server: cfg.Host, Version: v.GitVersion, Commit: v.GitCommit}, client, nil
}

// checkCluster fails, changing nothing on the nodes, unless kenv reaches
// each node as root, the node runs this machine's architecture, and each
// component the spec swaps there runs as a static pod of its kind (the
// kubelet, from systemd's unit).
func checkCluster(ctx context.Context, p *plan.Plan) error {
	var errs *multierror.Error
	for _, n := range p.Cluster.Nodes {
		if err := n.Check(ctx, runtime.GOARCH); err != nil {
			errs = multierror.Append(errs, err)
			continue
		}
		for _, c := range p.Components {
			if c.Node != n.Name {
				continue
			}
			if _, err := readHolder(ctx, n, c.Kind); err != nil {
				errs = multierror.Append(errs, err)
			}
		}
	}
	return errs.ErrorOrNil()
}

// readHolder reads and checks, on node n, what runs kind there: its
// static pod, or the kubelet's unit; what kenv's agent will find there. A
// manifest kenv's agent has moved aside, or a unit it stopped (a session
// that died), counts: the agent takes it up again.
func readHolder(ctx context.Context, n remote.Node, kind string) (agent.Found, error) {
	path := n.Manifest(kind)
	var data []byte
	var err error
	if kind == agent.Kubelet {
		data, err = agent.ReadKubelet(n.Runner(ctx))
	} else {
		data, err = n.ReadFile(ctx, path)
	}
	if err != nil {
		aside, errAside := n.ReadFile(ctx, agent.Aside(n.Dir, kind, path))
		if errAside != nil {
			return agent.Found{}, notRunning(ctx, n, kind, path, err)
		}
		data = aside
	}
	found, err := agent.Parse(kind, path, data)
	if err != nil {
		return agent.Found{}, fmt.Errorf("node %s: %w", n.Name, err)
	}
	return found, nil
}

// notRunning says why node n runs no kind kenv can swap: err, from reading
// its manifest at path (with what the manifests directory holds) or its
// kubelet.
func notRunning(ctx context.Context, n remote.Node, kind, path string, err error) error {
	if kind == agent.Kubelet {
		return fmt.Errorf("node %s: %w", n.Name, err)
	}
	there := "does not exist"
	if listing, err := n.Run(ctx, nil, "ls", n.Manifests); err == nil {
		there = "holds " + strings.Join(strings.Fields(listing), ", ")
	}
	return fmt.Errorf("node %s runs no static pod %s: %s cannot be read (%v), and %s %s. Name the node that runs it, or set manifests = \"...\" in its block",
		n.Name, kind, path, err, n.Manifests, there)
}

// shipToNodes copies to each node of the cluster what runs there (kenv
// itself as the agent, the builds, Delve) that is not there yet, and
// records the cluster, so that a down after a supervisor that died, and a
// purge, reach it. Undone by putting the cluster back (restoreCluster):
// what the components' stop left to the agents' grace happens now.
func (r *Running) shipToNodes() steps.Step {
	return steps.Step{
		Do: func(ctx context.Context, pr *steps.Progress) error {
			c := r.plan.Cluster
			if c == nil {
				return nil
			}
			// What runs now, to tell the static pods put back from them.
			rec := &clusterRecord{Cluster: c, Before: runningContainers(ctx, c)}
			if err := writeCluster(r.opts.Env, rec); err != nil {
				return err
			}
			r.clusterRecord = rec
			for _, n := range c.Nodes {
				if err := os.MkdirAll(filepath.Dir(r.plan.Log(plan.ComponentName(n.Name, "x"))), 0o700); err != nil {
					return err
				}
			}
			var g errgroup.Group
			for _, n := range c.Nodes {
				g.Go(func() error {
					done := pr.Step("ship to node " + n.Name + " (" + n.Reach() + ")")
					shipped, err := n.Ship(ctx)
					done(err)
					if err == nil {
						if len(shipped) == 0 {
							pr.Result("   node %s has everything already\n", n.Name)
						} else {
							pr.Result("   node %s: %s\n", n.Name, strings.Join(shipped, ", "))
						}
					}
					return err
				})
			}
			return g.Wait()
		},
		Undo: func() error {
			if r.clusterRecord != nil {
				return restoreCluster(r.clusterRecord, r.opts.Out)
			}
			return nil
		},
	}
}

// restoreWait bounds putting a cluster back: the kubelet's start of the
// static pods, and their readiness.
const restoreWait = 4 * time.Minute

// clusterRecord is a cluster whose static pods an environment swaps, and
// the containers they ran before, by mirror pod.
type clusterRecord struct {
	*plan.Cluster
	Before map[string]string `json:",omitempty"`
}

// runningContainers are the containers the static pods c swaps run now,
// by mirror pod; those not running are left out.
func runningContainers(ctx context.Context, c *plan.Cluster) map[string]string {
	client, err := clusterClient(c)
	if err != nil {
		return nil
	}
	ids := map[string]string{}
	for _, s := range c.Swaps {
		if s.Kind != agent.Kubelet {
			ids[s.MirrorPod()] = access.StaticPod(ctx, client, s.MirrorPod())
		}
	}
	return ids
}

func clusterClient(c *plan.Cluster) (*kubernetes.Clientset, error) {
	cfg, err := access.Config(c.Kubeconfig, c.Context)
	if err != nil {
		return nil, err
	}
	return kubernetes.NewForConfig(cfg)
}

// restoreCluster has each node of c put its static pods back (and start
// the kubelet's unit it stopped), then waits until the kubelet runs each
// again and reports it Ready: its mirror pod, through the cluster's
// kubeconfig, Ready with a container other than the one it ran before the
// swap (a mirror pod's status lags behind); for the kubelet, a renewal of
// the node's lease after the restore, and the node Ready. What was
// created in the cluster meanwhile is in its etcd, untouched.
func restoreCluster(c *clusterRecord, out io.Writer) error {
	start := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), restoreWait)
	defer cancel()
	var errs *multierror.Error
	for _, n := range c.Nodes {
		if err := n.Restore(ctx); err != nil {
			errs = multierror.Append(errs, fmt.Errorf("put node %s's components back: %w", n.Name, err))
		}
	}
	if errs != nil {
		return errs.ErrorOrNil()
	}
	client, err := clusterClient(c.Cluster)
	if err != nil {
		return err
	}
	for _, s := range c.Swaps {
		what := s.MirrorPod()
		if s.Kind == agent.Kubelet {
			what = "node " + s.Node + "'s kubelet"
			// Read once the agents are done: kenv's build no longer renews it.
			err = access.WaitKubeletBack(ctx, client, s.Node, access.NodeLease(ctx, client, s.Node))
		} else {
			err = access.WaitStaticPodBack(ctx, client, s.MirrorPod(), c.Before[s.MirrorPod()])
		}
		if err != nil {
			return fmt.Errorf("%s put back on node %s: %w", what, s.Node, err)
		}
		fmt.Fprintf(out, " ✓ %s%s(%s)\n", what, backMark, time.Since(start).Round(100*time.Millisecond))
	}
	return nil
}

// backMark is in each line restoreCluster prints, which down relays from
// a detached supervisor's log.
const backMark = " is back, Ready "

// clusterFile records the cluster an environment swapped components of;
// it outlives the environment's state, until a purge.
func clusterFile(env layout.Env) string { return filepath.Join(env.Dir, "cluster.json") }

func writeCluster(env layout.Env, c *clusterRecord) error {
	data, err := json.MarshalIndent(c, "", "  ")
	if err != nil {
		return err
	}
	return renameio.WriteFile(clusterFile(env), data, 0o600)
}

// recordedCluster is the cluster writeCluster recorded; nil when the
// environment never swapped a cluster's components.
func recordedCluster(env layout.Env) (*clusterRecord, error) {
	data, err := os.ReadFile(clusterFile(env))
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var c clusterRecord
	return &c, json.Unmarshal(data, &c)
}

// kubeconfig is the kubeconfig kenv's commands use: the cluster's, or
// the environment's admin one.
func (r *Running) kubeconfig() string {
	if c := r.opts.Spec.Cluster; c != nil {
		return c.Kubeconfig
	}
	return r.opts.Env.Kubeconfig("admin")
}

// clusterNode is the node of a cluster c runs on; nil for a component of
// kenv's own environments.
func (r *Running) clusterNode(c plan.Component) *remote.Node {
	if cl := r.currentPlan().Cluster; cl != nil && c.Node != "" {
		return cl.Node(c.Node)
	}
	return nil
}
