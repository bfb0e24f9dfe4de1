package bench

import (
	"fmt"
	"io"
	"runtime"
	"slices"
	"text/tabwriter"
	"time"
)

// Report is the table of one run of the bench.
type Report struct {
	Spec    string
	Runs    int
	Started time.Time
	Took    time.Duration
	// Rows are indexed by rowKind; those without figures are not printed.
	Rows [rowCount]Row
}

// Row is one figure: kenv's and the floor's, each taken Runs times.
type Row struct {
	What    string
	Against string
	Unit    string
	Kenv    []float64
	Floor   []float64
	Target  string
	// met says whether the medians meet the target.
	met func(kenv, floor float64) bool
}

type rowKind int

const (
	rowWarm rowKind = iota
	rowDelve
	rowUnoptimised
	rowReUp
	rowEditScheduler
	rowEditAPIServer
	rowCold
	rowDown
	rowDownDelve
	rowRSS
	rowNodesUp
	rowNodesDown
	rowSwapUp
	rowRestore
	rowE2E
	rowCount
)

// rows say what each row measures and its target, in the table's order.
var rows = map[rowKind]Row{
	rowWarm: {What: "up, no Delve", Against: "started by hand, etcd up", Unit: "s", Target: "≤ 1.10 × floor",
		met: func(k, f float64) bool { return k <= 1.10*f }},
	rowDelve: {What: "up, under Delve as the spec says", Against: "by hand, dlv exec --continue", Unit: "s", Target: "≤ 1.10 × floor",
		met: func(k, f float64) bool { return k <= 1.10*f }},
	rowUnoptimised: {What: "up, under Delve as the spec says", Against: "by hand, dlv exec, all -N -l", Unit: "s", Target: "< 1.00 × floor",
		met: func(k, f float64) bool { return k < f }},
	rowReUp: {What: "re-up, no change", Against: "kenv's first up of a new environment", Unit: "s", Target: "≤ floor + 0.5 s",
		met: func(k, f float64) bool { return k <= f+0.5 }},
	rowEditScheduler: {What: "save → ready, a line in pkg/scheduler", Against: "go build of the scheduler + start by hand", Unit: "s", Target: "≤ 1.10 × floor",
		met: func(k, f float64) bool { return k <= 1.10*f }},
	rowEditAPIServer: {What: "save → ready, a line in k8s.io/apiserver", Against: "go build of kube-apiserver + start by hand", Unit: "s", Target: "≤ 1.10 × floor",
		met: func(k, f float64) bool { return k <= 1.10*f }},
	rowCold: {What: "cold up (empty binary and Go build caches)", Against: "go build, empty Go build cache", Unit: "s", Target: "≤ 1.05 × floor",
		met: func(k, f float64) bool { return k <= 1.05*f }},
	rowDown: {What: "down, no Delve, to no process and no port", Against: "SIGTERM by hand, to no port", Unit: "s", Target: "≤ 1 s",
		met: func(k, _ float64) bool { return k <= 1 }},
	rowDownDelve: {What: "down, under Delve as the spec says", Against: "SIGTERM by hand, to no port", Unit: "s", Target: "≤ 1 s",
		met: func(k, _ float64) bool { return k <= 1 }},
	rowRSS: {What: "supervisor memory, idle, etcd embedded", Unit: "MB", Target: "≤ 150 MB",
		met: func(k, _ float64) bool { return k <= 150 }},
	rowNodesUp: {What: "up, nodes to Ready, no Delve", Against: "the same spec with its first node alone", Unit: "s", Target: "≤ 1.30 × floor",
		met: func(k, f float64) bool { return k <= 1.30*f }},
	rowNodesDown: {What: "down, nodes", Against: "down of one node", Unit: "s", Target: "both ≤ 2 s",
		met: func(k, f float64) bool { return k <= 2 && f <= 2 }},
	rowSwapUp: {What: "up, a cluster's kube-apiserver swapped, under Delve, to /readyz (nothing to ship)",
		Against: "by hand: scp build and dlv, mv the manifest, dlv exec --continue over the transport", Unit: "s", Target: "≤ 1.20 × floor",
		met: func(k, f float64) bool { return k <= 1.20*f }},
	rowRestore: {What: fmt.Sprintf("snapshot restore, %d ConfigMaps, as the spec says", restoreObjects), Against: "kenv down, then kenv up -d", Unit: "s", Target: "≤ 1.50 × floor",
		met: func(k, f float64) bool { return k <= 1.50*f }},
	rowE2E: {What: "kenv e2e of one test, nothing to build", Against: "ginkgo running the cached e2e.test by hand", Unit: "s", Target: "≤ 1.10 × floor",
		met: func(k, f float64) bool { return k <= 1.10*f }},
}

// newReport is an empty table.
func newReport(spec string, runs int, started time.Time) *Report {
	r := &Report{Spec: spec, Runs: runs, Started: started}
	for kind, def := range rows {
		r.Rows[kind] = def
	}
	return r
}

// row is the report's row of kind.
func (r *Report) row(kind rowKind) *Row { return &r.Rows[kind] }

// Print writes the table: each figure as its median and its range over the
// runs, the ratio of the medians, and whether the target is met.
func (r *Report) Print(w io.Writer, machine string) {
	fmt.Fprintf(w, "kenv bench %s: %d run(s) of each warm figure, %s, %s, %d CPUs, took %s\n\n",
		r.Spec, r.Runs, r.Started.UTC().Format("2006-01-02 15:04 MST"), machine, runtime.NumCPU(), r.Took.Round(time.Second))
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "what\tkenv\tfloor\t\tratio\ttarget\t")
	for _, row := range r.Rows {
		if len(row.Kenv) == 0 {
			continue
		}
		k := median(row.Kenv)
		floor, ratio, verdict := "—", "—", "met"
		if len(row.Floor) > 0 {
			f := median(row.Floor)
			floor, ratio = figure(row.Floor, row.Unit), fmt.Sprintf("%.2f", k/f)
			if !row.met(k, f) {
				verdict = "NOT met"
			}
		} else if row.Against != "" {
			verdict = "floor not measured"
		} else if !row.met(k, 0) {
			verdict = "NOT met"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s: %s\t\n", row.What, figure(row.Kenv, row.Unit), floor, row.Against, ratio, row.Target, verdict)
	}
	tw.Flush()
}

// figure is the median of values and their range.
func figure(values []float64, unit string) string {
	if len(values) == 1 {
		return fmt.Sprintf("%.2f %s", values[0], unit)
	}
	return fmt.Sprintf("%.2f %s (%.2f–%.2f)", median(values), unit, slices.Min(values), slices.Max(values))
}

func median(values []float64) float64 {
	s := slices.Sorted(slices.Values(values))
	n := len(s)
	if n%2 == 1 {
		return s[n/2]
	}
	return (s[n/2-1] + s[n/2]) / 2
}
