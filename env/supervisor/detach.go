package supervisor

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"sync"
	"syscall"
)

// A detached supervisor (`kenv up -d`) runs in a session of its own. It
// writes its progress to file descriptor 3, a pipe its parent reads and
// relays, and ends it with a marker once the environment is ready, or
// failed and was kept for inspection.
const (
	readyMarker  = "\x00kenv-ready"
	keptMarker   = "\x00kenv-retained"
	failedMarker = "\x00kenv-failed"
)

var (
	// ErrKept means a detached up failed and kept what started for
	// inspection; it has reported why already.
	ErrKept = errors.New("up failed; what started is kept for inspection")
	// ErrFailed means a detached up failed and has reported why already.
	ErrFailed = errors.New("up failed")
)

// Detach starts argv as a detached supervisor in dir, its own output going
// to the log at logPath, relays its progress to out, and returns once it
// reports the environment ready. Interrupting the caller meanwhile stops
// it.
func Detach(argv []string, dir, logPath string, out io.Writer) error {
	log, err := os.OpenFile(logPath, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		return err
	}
	defer log.Close()
	r, w, err := os.Pipe()
	if err != nil {
		return err
	}
	defer r.Close()
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Stdout, cmd.Stderr = log, log
	cmd.ExtraFiles = []*os.File{w}
	cmd.Dir = dir
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	err = cmd.Start()
	w.Close()
	if err != nil {
		return fmt.Errorf("start the supervisor: %w", err)
	}

	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	defer signal.Stop(sigs)
	go func() {
		if _, ok := <-sigs; ok {
			_ = cmd.Process.Signal(syscall.SIGTERM)
		}
	}()

	sc := bufio.NewScanner(r)
	for sc.Scan() {
		switch sc.Text() {
		case readyMarker:
			fmt.Fprintf(out, "The supervisor (pid %d) logs to %s.\n", cmd.Process.Pid, logPath)
			return cmd.Process.Release()
		case keptMarker:
			_ = cmd.Process.Release()
			return ErrKept
		case failedMarker:
			_ = cmd.Wait()
			return ErrFailed
		}
		fmt.Fprintln(out, sc.Text())
	}
	if err := cmd.Wait(); err != nil {
		return fmt.Errorf("the supervisor failed (%w); its log is %s", err, logPath)
	}
	return fmt.Errorf("the supervisor ended before the environment was ready; see %s", logPath)
}

// Parent is a detached supervisor's line to the process that started it.
// Once the parent is let go, what is written to it goes to the
// supervisor's own output, its log: what it says while it runs, and as
// it stops (the cluster it put back), which down relays.
type Parent struct {
	mu    sync.Mutex
	f     *os.File
	ended bool
}

// ParentOf returns the line Detach opened to this process. The components
// must not inherit it, or the parent would wait for them to exit.
func ParentOf() *Parent {
	syscall.CloseOnExec(3)
	return &Parent{f: os.NewFile(3, "parent")}
}

// Write sends progress to the parent, or, once it is let go, to the log.
func (p *Parent) Write(b []byte) (int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.ended {
		return os.Stdout.Write(b)
	}
	return p.f.Write(b)
}

// Ready tells the parent the environment is ready, and lets it go.
func (p *Parent) Ready() { p.end(readyMarker) }

// Kept tells the parent up failed and what started is kept.
func (p *Parent) Kept() { p.end(keptMarker) }

// Failed tells the parent up failed, after saying why.
func (p *Parent) Failed() { p.end(failedMarker) }

func (p *Parent) end(marker string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	fmt.Fprintln(p.f, marker)
	p.f.Close()
	p.ended = true
}
