package steps

import (
	"fmt"
	"io"
	"sync"
	"time"
)

// Progress prints one status line per step, the way kind does: a ✓ or ✗
// with the step's duration. Steps running side by side share it.
type Progress struct {
	mu  sync.Mutex
	out io.Writer
	// quiet leaves out what went as expected.
	quiet bool
}

// NewProgress prints to out.
func NewProgress(out io.Writer) *Progress { return &Progress{out: out} }

// NewNotes prints to out only the notes that need attention, not the
// steps nor their results: work that says its outcome, or its error, in a
// line of its own, as a round of the watch loop does, runs its steps with
// it.
func NewNotes(out io.Writer) *Progress { return &Progress{out: out, quiet: true} }

// Step starts a step; the returned function ends it with err's outcome.
func (p *Progress) Step(title string) func(err error) {
	if p.quiet {
		return func(error) {}
	}
	start := time.Now()
	return func(err error) {
		took := time.Since(start).Round(100 * time.Millisecond)
		if err != nil {
			p.Printf(" ✗ %s (%s)\n", title, took)
			return
		}
		p.Printf(" ✓ %s (%s)\n", title, took)
	}
}

// Result prints a line that says something went as expected.
func (p *Progress) Result(format string, args ...any) {
	if !p.quiet {
		p.Printf(format, args...)
	}
}

// Printf prints a line of its own.
func (p *Progress) Printf(format string, args ...any) {
	p.mu.Lock()
	defer p.mu.Unlock()
	fmt.Fprintf(p.out, format, args...)
}

// Write lets a Progress stand for its writer.
func (p *Progress) Write(b []byte) (int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.out.Write(b)
}
