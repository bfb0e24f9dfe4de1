package supervisor

import (
	"fmt"
	"io"
	"sync"
	"time"
)

// progress prints one status line per step, the way kind does: a ✓ or ✗
// with the step's duration.
type progress struct {
	mu  sync.Mutex
	out io.Writer
}

// step starts a step; the returned function ends it with err's outcome.
func (p *progress) step(title string) func(err error) {
	start := time.Now()
	return func(err error) {
		mark := "✓"
		if err != nil {
			mark = "✗"
		}
		p.printf(" %s %s (%s)\n", mark, title, time.Since(start).Round(100*time.Millisecond))
	}
}

func (p *progress) printf(format string, args ...any) {
	p.mu.Lock()
	defer p.mu.Unlock()
	fmt.Fprintf(p.out, format, args...)
}
