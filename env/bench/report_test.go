package bench

import (
	"bytes"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"testing"
	"time"
)

var update = flag.Bool("update", false, "rewrite the golden files")

func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if string(got) != string(want) {
		t.Errorf("%s differs from the golden file:\n%s", name, got)
	}
}

func TestMedian(t *testing.T) {
	tests := []struct {
		values []float64
		want   float64
	}{
		{[]float64{3}, 3},
		{[]float64{3, 1, 2}, 2},
		{[]float64{4, 1, 3, 2}, 2.5},
		{[]float64{1, 1, 10}, 1}, // one slow run does not move it
		{[]float64{10, 1}, 5.5},
	}
	for _, tt := range tests {
		in := fmt.Sprint(tt.values)
		if got := median(tt.values); got != tt.want {
			t.Errorf("median(%s) = %v, want %v", in, got, tt.want)
		}
		if fmt.Sprint(tt.values) != in {
			t.Errorf("median reordered its argument %s to %v", in, tt.values)
		}
	}
}

func TestFigure(t *testing.T) {
	tests := []struct {
		values []float64
		unit   string
		want   string
	}{
		{[]float64{1.234}, "s", "1.23 s"},
		{[]float64{3, 1, 2}, "s", "2.00 s (1.00–3.00)"},
		{[]float64{90, 80}, "MB", "85.00 MB (80.00–90.00)"},
	}
	for _, tt := range tests {
		if got := figure(tt.values, tt.unit); got != tt.want {
			t.Errorf("figure(%v, %s) = %q, want %q", tt.values, tt.unit, got, tt.want)
		}
	}
}

func TestRowsDefined(t *testing.T) {
	for kind := range rowCount {
		r, ok := rows[kind]
		if !ok || r.What == "" || r.Unit == "" || r.Target == "" || r.met == nil {
			t.Errorf("row %d is not fully defined: %+v", kind, r)
		}
	}
}

func TestTargets(t *testing.T) {
	tests := []struct {
		kind        rowKind
		kenv, floor float64
		met         bool
	}{
		{rowWarm, 11, 10, true},
		{rowWarm, 11.1, 10, false},
		{rowDelve, 5, 10, true},
		{rowDelve, 11.1, 10, false},
		// Below the floor: kenv's debug build optimises what no one debugs.
		{rowUnoptimised, 9.9, 10, true},
		{rowUnoptimised, 10, 10, false},
		{rowReUp, 2.5, 2, true},
		{rowReUp, 2.6, 2, false},
		{rowEditScheduler, 10.9, 10, true},
		{rowEditScheduler, 11.1, 10, false},
		{rowEditAPIServer, 11.1, 10, false},
		{rowCold, 104, 100, true},
		{rowCold, 106, 100, false},
		// Down is held to a second, however fast the floor.
		{rowDown, 1, 0.01, true},
		{rowDown, 1.01, 5, false},
		{rowDownDelve, 0.9, 0.1, true},
		{rowDownDelve, 1.2, 2, false},
		{rowRSS, 150, 0, true},
		{rowRSS, 151, 0, false},
	}
	for _, tt := range tests {
		r := rows[tt.kind]
		if got := r.met(tt.kenv, tt.floor); got != tt.met {
			t.Errorf("%s (%s): kenv %v, floor %v: met = %v, want %v", r.What, r.Target, tt.kenv, tt.floor, got, tt.met)
		}
	}
}

func TestPrint(t *testing.T) {
	r := newReport("examples/debug.hcl", 3, time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC))
	r.Took = 65400 * time.Millisecond
	warm, delve, unopt := r.row(rowWarm), r.row(rowDelve), r.row(rowUnoptimised)
	warm.Kenv, warm.Floor = []float64{1.2, 1.0, 1.1}, []float64{1.0, 1.0, 1.0}
	delve.Kenv, delve.Floor = []float64{3}, []float64{2}
	// The unoptimised floor needs a second build, left out by --short.
	unopt.Kenv = []float64{3}
	down := r.row(rowDown)
	down.Kenv, down.Floor = []float64{1.5, 0.5, 0.6}, []float64{0.2, 0.2, 0.2}
	r.row(rowRSS).Kenv = []float64{80, 90, 85}
	// The re-up, edit and cold rows have no figures: not printed.

	var out bytes.Buffer
	r.Print(&out, "test machine")
	// The CPU count is this machine's.
	got := regexp.MustCompile(fmt.Sprintf(`\b%d CPUs\b`, runtime.NumCPU())).ReplaceAll(out.Bytes(), []byte("N CPUs"))
	golden(t, "report.golden", got)
}
