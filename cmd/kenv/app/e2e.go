package app

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/sync/errgroup"

	"github.com/kenv-dev/kenv/env/build"
	"github.com/kenv-dev/kenv/env/node"
	"github.com/kenv-dev/kenv/env/plan"
	"github.com/kenv-dev/kenv/env/process"
	"github.com/kenv-dev/kenv/env/source"
	"github.com/kenv-dev/kenv/env/state"
)

type e2eOptions struct {
	focus, skip []string
	labels      string
	nodes       int
	tail        int
	// debug runs e2e.test under Delve, at breaks, listening on port.
	debug  bool
	breaks []string
	port   int
	// buildOnly builds e2e.test and ginkgo for a spec, and runs nothing.
	buildOnly bool
}

func newE2ECommand(streams Streams) *cobra.Command {
	var (
		f envFlags
		o e2eOptions
	)
	cmd := &cobra.Command{
		Use:   "e2e [SPEC] [-- E2E_FLAGS...]",
		Short: "Run the Kubernetes e2e tests of the environment's own tree against it",
		Long: `Run the e2e tests of the tree the environment's components are built from
against the running environment: e2e.test and ginkgo are built from that tree,
with its toolchain and kenv's debug build, into the cache (only the first build
is cold), then ginkgo runs e2e.test with the environment's admin kubeconfig,
--provider=skeleton and the kubectl built from the same tree.

--focus, --skip and --label-filter are ginkgo's, passed through; flags after
-- go to e2e.test. The JUnit report lands in the environment's directory
(e2e/<time>/). A run that fails ends with what the environment's components
logged meanwhile, the last lines of each; kenv's exit status is the tests'.

--debug runs e2e.test itself under Delve on 127.0.0.1, without ginkgo's
runner (one process, the specs in series): with --break, kenv sets those
breakpoints (file.go:line or file.go:Function, in the tree) and runs the
tests; without, e2e.test waits at its start for your debugger. kenv says
where it stops and how to attach.

--build-only builds e2e.test and ginkgo for SPEC and runs nothing: the
environment need not be up.`,
		RunE: func(cmd *cobra.Command, args []string) error {
			at := cmd.ArgsLenAtDash()
			var extra []string
			if at >= 0 {
				args, extra = args[:at], args[at:]
			}
			if len(args) > 1 {
				return fmt.Errorf("kenv e2e takes at most one spec; flags for e2e.test go after --")
			}
			if o.buildOnly {
				if len(args) != 1 {
					return fmt.Errorf("kenv e2e --build-only builds for a spec: name it")
				}
				return buildSuiteOnly(cmd, args[0], streams)
			}
			env, name, err := f.resolve(args, streams)
			if err != nil {
				return err
			}
			st, err := state.Read(env)
			if errors.Is(err, state.ErrNotUp) {
				return fmt.Errorf("environment %q is not up: the e2e tests run against a running environment; `kenv up -d` it first (`kenv e2e --build-only SPEC` builds the suite alone)", name)
			}
			if err != nil {
				return err
			}
			s, env, cache, err := loadSpecEnv(st.Spec, streams)
			if err != nil {
				return err
			}
			if s.Cluster != nil {
				return fmt.Errorf("environment %q swaps components of a cluster kenv did not make; run the e2e tests against environments kenv makes", name)
			}
			d, err := decidePlan(cmd.Context(), s, env, cache, plan.Machine{})
			if err != nil {
				return err
			}
			o.debug = o.debug || len(o.breaks) > 0
			if o.debug && o.nodes != 1 {
				return fmt.Errorf("--debug runs the specs in one e2e.test process; leave --nodes out")
			}
			suite, err := buildSuite(cmd, d.plan, streams)
			if err != nil {
				return err
			}
			if d.plan.Nodes != nil {
				if err := e2ePause(cmd.Context(), suite, d.plan.Nodes, streams); err != nil {
					return err
				}
			}
			if o.debug {
				tc := d.plan.Tree.Toolchain.Go
				if suite.dlv, err = e2eDelve(cmd.Context(), cache, tc, streams); err != nil {
					return err
				}
			}
			if d.plan.Nodes == nil && d.plan.Kwok == nil {
				// The suite waits for a node before any test, API-only or not.
				fmt.Fprintf(streams.Out, " • no nodes: e2e.test waits for none (--num-nodes=0 --allowed-not-ready-nodes=-1); the tests that need one fail\n")
				extra = append([]string{"--num-nodes=0", "--allowed-not-ready-nodes=-1"}, extra...)
			}
			return runSuite(cmd, env.Dir, st, suite, o, extra, streams)
		},
	}
	f.register(cmd)
	cmd.Flags().StringArrayVar(&o.focus, "focus", nil, "ginkgo's --focus: run the specs whose text matches `REGEXP` (repeatable)")
	cmd.Flags().StringArrayVar(&o.skip, "skip", nil, "ginkgo's --skip: leave out the specs whose text matches `REGEXP` (repeatable)")
	cmd.Flags().StringVar(&o.labels, "label-filter", "", "ginkgo's --label-filter, such as 'Conformance && !Slow'")
	cmd.Flags().IntVar(&o.nodes, "nodes", 1, "ginkgo's --nodes: how many specs run in parallel")
	cmd.Flags().IntVar(&o.tail, "tail", 20, "on failure, how many of each component's last log lines to show")
	cmd.Flags().BoolVar(&o.debug, "debug", false, "run e2e.test under Delve on 127.0.0.1, waiting at its start unless --break is given")
	cmd.Flags().StringArrayVar(&o.breaks, "break", nil, "with --debug: a breakpoint at `LOCATION` (file.go:line or file.go:Function in the tree; repeatable)")
	cmd.Flags().BoolVar(&o.buildOnly, "build-only", false, "build e2e.test and ginkgo for SPEC, and run nothing")
	cmd.Flags().IntVar(&o.port, "debug-port", 0, "with --debug: Delve's port on 127.0.0.1 (default: a free one)")
	return cmd
}

// suite is the e2e suite built from the environment's tree, and the
// Delve that debugs e2e.test when asked.
type suite struct {
	e2eTest, ginkgo, dlv string
}

// buildSuiteOnly builds e2e.test and ginkgo for the spec at path, its
// source got first when it is not in the cache.
func buildSuiteOnly(cmd *cobra.Command, path string, streams Streams) error {
	s, env, cache, err := loadSpecEnv(path, streams)
	if err != nil {
		return err
	}
	if s.Cluster != nil {
		return fmt.Errorf("%s swaps components of a cluster kenv did not make; the e2e tests are built for environments kenv makes", path)
	}
	d, err := decidePlan(cmd.Context(), s, env, cache, plan.Machine{})
	if !d.cached {
		say := func(msg string) { fmt.Fprintf(streams.Out, " • %s\n", msg) }
		if _, err = source.Get(cmd.Context(), cache, plan.Where(s, d.lock), say); err == nil {
			d, err = decidePlan(cmd.Context(), s, env, cache, plan.Machine{})
		}
	}
	if err != nil {
		return err
	}
	_, err = buildSuite(cmd, d.plan, streams)
	return err
}

// buildSuite builds e2e.test and ginkgo from the environment's tree, as
// its components are built, unless they are up to date.
func buildSuite(cmd *cobra.Command, p *plan.Plan, streams Streams) (suite, error) {
	r := p.Tree.Build
	r.Components = []string{build.E2ETest, build.Ginkgo}
	log := p.Env.Log("e2e-build")
	if err := os.MkdirAll(filepath.Dir(log), 0o700); err != nil {
		return suite{}, err
	}
	f, err := os.OpenFile(log, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return suite{}, err
	}
	defer f.Close()
	start := time.Now()
	fmt.Fprintf(streams.Out, " • e2e.test and ginkgo from %s with Go %s\n", p.Tree.Source.Dir, p.Tree.Toolchain.Go)
	built, err := build.Run(cmd.Context(), r, f)
	if err != nil {
		return suite{}, fmt.Errorf("%w; the build's output is in %s:\n%s", err, log, tailOf(log, 20))
	}
	if len(built) == 0 {
		fmt.Fprintf(streams.Out, " ✓ e2e.test and ginkgo are up to date\n")
	} else {
		fmt.Fprintf(streams.Out, " ✓ built %s (%s)\n", strings.Join(built, ", "), time.Since(start).Round(100*time.Millisecond))
	}
	return suite{e2eTest: filepath.Join(r.OutDir, build.E2ETest), ginkgo: filepath.Join(r.OutDir, build.Ginkgo)}, nil
}

// e2ePause gives the pause image kenv built from the tree, which every
// node has, the name the e2e tests give it (registry.k8s.io/pause:3.10.1
// for v1.34), which e2e.test --list-images says: the tests whose pods run
// it need no registry. Other images the tests name are the kubelet's
// `images` in the spec.
func e2ePause(ctx context.Context, s suite, nodes *plan.Nodes, streams Streams) error {
	out, err := exec.CommandContext(ctx, s.e2eTest, "--list-images").Output()
	if err != nil {
		return fmt.Errorf("%s --list-images: %w", s.e2eTest, err)
	}
	ref := pauseRE.FindString(string(out))
	if ref == "" {
		return nil
	}
	var g errgroup.Group
	for _, n := range nodes.List {
		g.Go(func() error {
			if err := node.Tag(ctx, n.Socket, node.PauseImage, ref, io.Discard); err != nil {
				return fmt.Errorf("node %s: %w", n.Name, err)
			}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return err
	}
	fmt.Fprintf(streams.Out, " ✓ the nodes' pause image is %s too, as the tests name it\n", ref)
	return nil
}

// pauseRE finds the pause image among e2e.test --list-images' lines.
var pauseRE = regexp.MustCompile(`(?m)^\S+/pause:\S+$`)

// summaryRE is ginkgo's line that counts the specs run.
var summaryRE = regexp.MustCompile(`^Ran \d+ of \d+ Specs? in `)

// runSuite runs the suite against the environment st, its output shown
// and kept in the environment's directory envDir, and ends with the
// tests' exit status.
func runSuite(cmd *cobra.Command, envDir string, st *state.State, s suite, o e2eOptions, extra []string, streams Streams) error {
	dir := filepath.Join(envDir, "e2e", time.Now().Format("20060102-150405"))
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	e2eFlags := append([]string{"--kubeconfig=" + st.Kubeconfig, "--provider=skeleton", "--kubectl-path=" + st.Kubectl, "--report-dir=" + dir}, extra...)
	var argv []string
	var addr string
	if o.debug {
		port := o.port
		if port == 0 {
			var err error
			if port, err = freePort(); err != nil {
				return err
			}
		}
		addr = net.JoinHostPort(plan.Loopback, strconv.Itoa(port))
		argv = append(debugArgv(s, addr), ginkgoFlags(o, "--ginkgo.", "junit.xml")...)
	} else {
		argv = append([]string{s.ginkgo, fmt.Sprintf("--nodes=%d", o.nodes), "--output-dir=" + dir}, ginkgoFlags(o, "--", "junit.xml")...)
		argv = append(argv, s.e2eTest, "--")
	}
	argv = append(argv, e2eFlags...)

	logs := map[string]int64{}
	for _, c := range st.Components {
		if info, err := os.Stat(c.LogPath); err == nil {
			logs[c.LogPath] = info.Size()
		}
	}
	out, err := os.Create(filepath.Join(dir, "e2e.log"))
	if err != nil {
		return err
	}
	defer out.Close()
	var summary []string
	lines := &lineWriter{line: func(l string) {
		if summaryRE.MatchString(l) || strings.HasPrefix(l, "SUCCESS!") || strings.HasPrefix(l, "FAIL!") {
			summary = append(summary, l)
		}
	}}
	run := exec.CommandContext(cmd.Context(), argv[0], argv[1:]...)
	run.Dir = dir
	run.Stdout = io.MultiWriter(streams.Out, out, lines)
	run.Stderr = io.MultiWriter(streams.Err, out)
	fmt.Fprintf(streams.Out, " • %s\n", strings.Join(argv, " "))
	var code int
	if o.debug {
		code, err = runDebugged(cmd.Context(), run, addr, st, o.breaks, streams)
	} else {
		code, err = runExit(run.Run())
	}
	if err != nil {
		return err
	}
	fmt.Fprintf(streams.Out, "\n%s\nJUnit report and output: %s\n", strings.Join(summary, "\n"), dir)
	if code == 0 {
		return nil
	}
	// What the environment's components logged while the tests ran.
	for _, c := range st.Components {
		if tail := tailSince(c.LogPath, logs[c.LogPath], o.tail); tail != "" {
			fmt.Fprintf(streams.Out, "\n── %s, its last lines during the run (%s) ──\n%s", c.Name, c.LogPath, tail)
		}
	}
	return exitCode(code)
}

// runExit is the exit status of a command that Run returned err for, or
// err when it did not run to its end.
func runExit(err error) (int, error) {
	var exit *exec.ExitError
	if errors.As(err, &exit) {
		return exit.ExitCode(), nil
	}
	return 0, err
}

// ginkgoFlags are o's ginkgo flags, written with prefix: "--" for the
// ginkgo CLI, "--ginkgo." for e2e.test itself.
func ginkgoFlags(o e2eOptions, prefix, junit string) []string {
	flags := []string{prefix + "no-color", prefix + "junit-report=" + junit}
	for _, f := range o.focus {
		flags = append(flags, prefix+"focus="+f)
	}
	for _, sk := range o.skip {
		flags = append(flags, prefix+"skip="+sk)
	}
	if o.labels != "" {
		flags = append(flags, prefix+"label-filter="+o.labels)
	}
	return flags
}

// lineWriter hands each complete line written to it to line.
type lineWriter struct {
	buf  bytes.Buffer
	line func(string)
}

func (w *lineWriter) Write(p []byte) (int, error) {
	w.buf.Write(p)
	for {
		i := bytes.IndexByte(w.buf.Bytes(), '\n')
		if i < 0 {
			return len(p), nil
		}
		w.line(strings.TrimSpace(string(w.buf.Next(i + 1))))
	}
}

// tailSince is the last n lines of what path holds past offset.
func tailSince(path string, offset int64, n int) string {
	f, err := os.Open(path)
	if err != nil {
		return ""
	}
	defer f.Close()
	if _, err := f.Seek(offset, io.SeekStart); err != nil {
		return ""
	}
	last, _ := process.Tail(f, n)
	if len(last) == 0 {
		return ""
	}
	return strings.Join(last, "\n") + "\n"
}

// tailOf is the last n lines of path.
func tailOf(path string, n int) string { return tailSince(path, 0, n) }
