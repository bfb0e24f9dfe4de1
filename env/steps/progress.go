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
}

// NewProgress prints to out.
func NewProgress(out io.Writer) *Progress { return &Progress{out: out} }

// Step starts a step; the returned function ends it with err's outcome.
func (p *Progress) Step(title string) func(err error) {
	start := time.Now()
	return func(err error) {
		mark := "✓"
		if err != nil {
			mark = "✗"
		}
		p.Printf(" %s %s (%s)\n", mark, title, time.Since(start).Round(100*time.Millisecond))
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
