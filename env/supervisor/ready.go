package supervisor

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"slices"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/util/wait"

	"github.com/kenv-dev/kenv/env/access"
	"github.com/kenv-dev/kenv/env/delve"
	"github.com/kenv-dev/kenv/env/node"
	"github.com/kenv-dev/kenv/env/plan"
	"github.com/kenv-dev/kenv/env/process"
	"github.com/kenv-dev/kenv/env/state"
	"github.com/kenv-dev/kenv/env/steps"
)

// pollInterval is how often readiness is asked.
const pollInterval = 50 * time.Millisecond

// waitReady waits, side by side, until the running components named
// answer their health checks (waitUnit), and notes when the one the
// others need serving (kube-apiserver) is.
func (r *Running) waitReady(names []string) steps.Step {
	return steps.Step{Do: func(ctx context.Context, pr *steps.Progress) error {
		var ready []steps.Step
		for _, u := range r.allUnits() {
			c := u.component()
			if !slices.Contains(names, c.Name) {
				continue
			}
			where := " at " + c.HealthURL
			if c.HealthURL == "" {
				where = " on node " + c.Node // asked there
			}
			ready = append(ready, steps.Step{Title: c.Name + " ready" + where, Do: func(ctx context.Context, pr *steps.Progress) error {
				err := r.waitUnit(ctx, pr, u)
				if err == nil && c.Serves {
					r.apiReady.Store(time.Now().UnixNano())
				}
				return err
			}})
		}
		return steps.Together(ready...).Do(ctx, pr)
	}}
}

// inStages are the rows that start cs as early as what each needs allows
// (plan.Start), and wait until they are ready: up and a restart go the
// same way. start starts the components of one stage; beside runs with
// the first stage (etcd, at up), and stock once the nodes' runtimes are
// ready, before the nodes' components start (their images, at up). The
// nodes' runtimes take their images while kube-apiserver starts, and the
// nodes' components start as soon as it accepts connections, beside its
// other clients.
func (r *Running) inStages(cs []plan.Component, start func([]plan.Component) steps.Step, beside, stock []steps.Step) [][]steps.Step {
	names := func(s plan.Start, serves bool) []string {
		var names []string
		for _, c := range cs {
			if c.Start == s && c.Serves == serves {
				names = append(names, c.Name)
			}
		}
		return names
	}
	stage := func(s plan.Start) steps.Step {
		return start(slices.DeleteFunc(slices.Clone(cs), func(c plan.Component) bool { return c.Start != s }))
	}
	clients := steps.Seq(stage(plan.WhenServing), r.waitReady(names(plan.WhenServing, false)))
	onNodes := steps.Seq(stage(plan.WhenImages), r.waitReady(names(plan.WhenImages, false)))
	if slices.ContainsFunc(cs, func(c plan.Component) bool { return c.Serves }) {
		clients, onNodes = r.whenServing(clients), r.whenServing(onNodes)
	}
	nodes := steps.Seq(append(append([]steps.Step{r.waitReady(names(plan.AtOnce, false))}, stock...), onNodes)...)
	return [][]steps.Step{
		append(beside, stage(plan.AtOnce)),
		{r.waitReady(names(plan.AtOnce, true)), clients, nodes},
	}
}

// waitUnit waits until u is ready and records its status. A client of
// kube-apiserver that exits before kube-apiserver is ready, as the
// controller-manager does while the RBAC roles are not there yet, is
// started again at once, as often as plan.EarlyExits; its own errors show once
// kube-apiserver is ready.
func (r *Running) waitUnit(ctx context.Context, pr *steps.Progress, u *unit) error {
	c, p, started := u.running()
	err := r.waitHealthy(ctx, pr, c, p)
	for tries := 1; err != nil && p.Exit() != "" && c.Start == plan.WhenServing && r.beforeAPIReady(started) && tries <= plan.EarlyExits; tries++ {
		if tries == 1 {
			pr.Result(" • %s %s before kube-apiserver was ready; starting it again\n", c.Name, p.Exit())
		}
		if err = r.relaunch(u, c).Do(ctx, pr); err == nil {
			c, p, started = u.running()
			err = r.waitHealthy(ctx, pr, c, p)
		}
	}
	switch {
	case errors.Is(err, context.Canceled):
		return err
	case err != nil:
		// A process that ended has the status of how it ended.
		if p.Exit() == "" {
			r.setStatus(c.Name, state.Failed)
		}
		return fmt.Errorf("%w\nlast lines of %s:\n%s", err, c.LogPath, tailLines(c.LogPath, 15))
	}
	r.setStatus(c.Name, state.Ready)
	return nil
}

// beforeAPIReady reports whether a process started at started started
// before kube-apiserver was ready.
func (r *Running) beforeAPIReady(started time.Time) bool {
	ready := r.apiReady.Load()
	return ready == 0 || started.UnixNano() < ready
}

// whenServing runs s once the component the others need serving
// (kube-apiserver) accepts connections.
func (r *Running) whenServing(s steps.Step) steps.Step {
	do := s.Do
	s.Do = func(ctx context.Context, pr *steps.Progress) error {
		api, ok := r.currentPlan().Serving()
		if !ok {
			return do(ctx, pr)
		}
		// Not bounded: waitReady bounds kube-apiserver's start, which
		// Delve may hold for a person, and cancels this when it fails.
		err := wait.PollUntilContextCancel(ctx, pollInterval, true, func(context.Context) (bool, error) {
			conn, err := net.DialTimeout("tcp", api.Address, time.Second)
			if err == nil {
				conn.Close()
			}
			return err == nil, nil
		})
		if err != nil {
			return fmt.Errorf("%s does not accept connections at %s: %w", api.Name, api.Address, err)
		}
		return do(ctx, pr)
	}
	return s
}

// waitHealthy waits until c, run by p, answers its health check. The time
// limit does not run while Delve holds c stopped, at entry or at a
// breakpoint: the user is stepping through it.
func (r *Running) waitHealthy(ctx context.Context, pr *steps.Progress, c plan.Component, p *process.Process) error {
	timeout := r.opts.ReadyTimeout
	deadline := time.Now().Add(timeout)
	var last, lastStop string
	var asked time.Time
	node := r.clusterNode(c)
	err := wait.PollUntilContextCancel(ctx, pollInterval, true, func(ctx context.Context) (bool, error) {
		if node != nil {
			// Asked on the node, through its transport: once a second.
			if time.Since(asked) < time.Second {
				return false, nil
			}
			asked = time.Now()
		}
		if c.Debug != nil {
			st, err := delve.Inspect(c.Debug.Listen)
			switch {
			case err != nil:
				// Delve is not listening yet.
			case st.Exited:
				return false, fmt.Errorf("%s exited under Delve: %s", c.Name, st.How)
			case waitsForUser(c.Debug, st):
				deadline = time.Now().Add(timeout)
				st.File = r.sourcesOf(c.Name).Local(st.File)
				if stop := stopDescription(st); stop != lastStop {
					lastStop = stop
					pr.Printf(" • %s is halted %s; attach with `kenv attach %s` (or dlv connect %s) and continue\n",
						c.Name, stop, c.Name, c.Debug.Listen)
					r.setStatus(c.Name, state.Halted(st.Summary()))
				}
			default:
				lastStop = ""
			}
		}
		if p.Exit() != "" {
			return false, p.ExitError()
		}
		var err error
		if node != nil {
			// The node's agent says when the build runs, and asks a
			// health check only the node reaches.
			err = node.Probe(ctx, c.Kind)
		}
		if err == nil && c.HealthURL != "" {
			err = r.probe(ctx, c.HealthURL)
		}
		if err == nil {
			return true, nil
		}
		last = err.Error()
		if time.Now().After(deadline) {
			return false, fmt.Errorf("%s is not ready after %s (last answer: %s)", c.Name, timeout, last)
		}
		return false, nil
	})
	if err != nil && ctx.Err() != nil {
		return fmt.Errorf("%s is not ready: %w", c.Name, ctx.Err())
	}
	return err
}

// probe asks a component's health check: an HTTP(S) URL that answers 200,
// or unix://SOCKET, a CRI runtime that says it is ready.
func (r *Running) probe(ctx context.Context, url string) error {
	if socket, ok := strings.CutPrefix(url, "unix://"); ok {
		return node.Ready(ctx, socket)
	}
	return access.Healthy(ctx, r.health, url)
}

// waitsForUser reports whether a program Delve reports halted waits for a
// person: at a breakpoint, or at entry when the spec says to wait. A
// program that does not wait is halted for a moment while Delve starts it
// or kenv sets its breakpoints; that is no stop to report.
func waitsForUser(d *plan.Debug, st delve.State) bool {
	return st.Halted && (st.Breakpoint != "" || d.Wait)
}

func stopDescription(st delve.State) string {
	switch {
	case st.Breakpoint != "":
		return fmt.Sprintf("at breakpoint %s (%s:%d)", st.Breakpoint, st.File, st.Line)
	case st.File != "":
		return fmt.Sprintf("at %s:%d, waiting for a debugger", st.File, st.Line)
	default:
		return "at entry, waiting for a debugger"
	}
}

// tailLines returns the last n lines of the file at path, indented.
func tailLines(path string, n int) string {
	f, err := os.Open(path)
	if err != nil {
		return "   (no log: " + err.Error() + ")"
	}
	defer f.Close()
	lines, _ := process.Tail(f, n)
	return "   " + strings.Join(lines, "\n   ")
}
