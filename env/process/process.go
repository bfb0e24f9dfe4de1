// Package process starts and stops the component processes of an
// environment, each with its output in a log file.
package process

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
	"k8s.io/apimachinery/pkg/util/wait"
)

// Spec says how to run one process.
type Spec struct {
	Name string
	Argv []string
	// Env is added to the current environment.
	Env     []string
	LogPath string
	// Credential, when set, is the user and groups the process runs as.
	Credential *syscall.Credential
	// Stdin, when set, is the process's standard input; the caller closes
	// its copy once started.
	Stdin *os.File
}

// Process is a started child process.
type Process struct {
	Name    string
	LogPath string
	cmd     *exec.Cmd
	done    chan struct{}
}

// Start starts s with its stdout and stderr appended to its log file. The
// child gets its own process group, so that stopping it reaches what it
// starts, and it is killed if kenv dies.
func Start(s Spec) (*Process, error) {
	log, err := os.OpenFile(s.LogPath, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		return nil, fmt.Errorf("start %s: %w", s.Name, err)
	}
	defer log.Close()
	fmt.Fprintf(log, "\n==== kenv started %s at %s\n", s.Name, time.Now().Format(time.RFC3339))
	cmd := exec.Command(s.Argv[0], s.Argv[1:]...)
	cmd.Stdout, cmd.Stderr = log, log
	if s.Stdin != nil {
		cmd.Stdin = s.Stdin
	}
	cmd.Env = append(os.Environ(), s.Env...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL, Credential: s.Credential}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", s.Name, err)
	}
	p := &Process{Name: s.Name, LogPath: s.LogPath, cmd: cmd, done: make(chan struct{})}
	go func() {
		_ = cmd.Wait()
		close(p.done)
	}()
	return p, nil
}

// Pid is the process id of the child.
func (p *Process) Pid() int { return p.cmd.Process.Pid }

// Done is closed when the process has exited.
func (p *Process) Done() <-chan struct{} { return p.done }

// ExitError describes how the process ended; nil while it runs.
func (p *Process) ExitError() error {
	how := p.Exit()
	if how == "" {
		return nil
	}
	return fmt.Errorf("%s %s", p.Name, how)
}

// Exit says how the process ended, "killed by SIGKILL" or "exited with
// code 1"; empty while it runs.
func (p *Process) Exit() string {
	select {
	case <-p.done:
	default:
		return ""
	}
	st := p.cmd.ProcessState
	if ws, ok := st.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		return "killed by " + unix.SignalName(ws.Signal())
	}
	return fmt.Sprintf("exited with code %d", st.ExitCode())
}

// Stop sends SIGTERM to the process and everything it started, then
// SIGKILL to what is left after timeout. Delve puts the program it debugs in
// a process group of its own, so descendants are signalled one by one.
func (p *Process) Stop(timeout time.Duration) error {
	if p.Exit() != "" {
		return nil
	}
	pids := append(Descendants(p.Pid()), p.Pid())
	signal := func(sig syscall.Signal) {
		_ = syscall.Kill(-p.Pid(), sig)
		for _, pid := range pids {
			_ = syscall.Kill(pid, sig)
		}
	}
	// Gone once the child is reaped and nothing it started runs.
	gone := func() bool { return p.Exit() != "" && !anyAlive(pids) }
	return terminate(fmt.Sprintf("%s (pid %d)", p.Name, p.Pid()), signal, gone, timeout)
}

// ID names a process by pid and start time, so that a reused pid is not
// mistaken for it.
type ID struct {
	Pid   int
	Start uint64
}

// IDOf names the process pid as it runs now.
func IDOf(pid int) ID {
	start, _ := StartTime(pid)
	return ID{Pid: pid, Start: start}
}

// Alive reports whether the process still runs.
func (id ID) Alive() bool {
	if !Alive(id.Pid) {
		return false
	}
	start, err := StartTime(id.Pid)
	return err == nil && start == id.Start
}

// StopAll stops those of ids that still run, processes of owner recorded
// earlier that may have outlived their parent: SIGTERM, then SIGKILL after
// timeout.
func StopAll(owner string, ids []ID, timeout time.Duration) error {
	var running []ID
	for _, id := range ids {
		if id.Alive() {
			running = append(running, id)
		}
	}
	if len(running) == 0 {
		return nil
	}
	signal := func(sig syscall.Signal) {
		for _, id := range running {
			if id.Alive() {
				_ = syscall.Kill(id.Pid, sig)
			}
		}
	}
	gone := func() bool {
		for _, id := range running {
			if id.Alive() {
				return false
			}
		}
		return true
	}
	return terminate(fmt.Sprintf("processes of %s %v", owner, running), signal, gone, timeout)
}

// killWait bounds the wait for SIGKILL to take effect.
const killWait = 10 * time.Second

// terminate signals SIGTERM, waits up to timeout until gone, then SIGKILL.
func terminate(what string, signal func(syscall.Signal), gone func() bool, timeout time.Duration) error {
	signal(syscall.SIGTERM)
	if WaitFor(context.Background(), timeout, gone) {
		return nil
	}
	signal(syscall.SIGKILL)
	if WaitFor(context.Background(), killWait, gone) {
		return nil
	}
	return fmt.Errorf("%s still run after SIGKILL", what)
}

// WaitFor polls cond every 50 ms until it holds, ctx ends or timeout
// passes, and reports whether it held.
func WaitFor(ctx context.Context, timeout time.Duration, cond func() bool) bool {
	err := wait.PollUntilContextTimeout(ctx, 50*time.Millisecond, timeout, true,
		func(context.Context) (bool, error) { return cond(), nil })
	return err == nil
}

func anyAlive(pids []int) bool {
	for _, pid := range pids {
		if Alive(pid) {
			return true
		}
	}
	return false
}

// Alive reports whether pid runs. A zombie does not, once its last
// thread has exited: until then it still holds its files and ports.
func Alive(pid int) bool {
	if pid <= 0 {
		return false
	}
	stat, err := readStat(pid)
	if err != nil {
		return false
	}
	zombie := stat.state == "Z" || stat.state == "X"
	return !zombie || stat.threads > 1
}

// Descendants lists the processes below pid, read from /proc.
func Descendants(pid int) []int {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return nil
	}
	children := map[int][]int{}
	for _, e := range entries {
		child, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if st, err := readStat(child); err == nil {
			children[st.ppid] = append(children[st.ppid], child)
		}
	}
	var out []int
	queue := []int{pid}
	for len(queue) > 0 {
		next := queue[0]
		queue = queue[1:]
		for _, c := range children[next] {
			out = append(out, c)
			queue = append(queue, c)
		}
	}
	return out
}

type procStat struct {
	state   string
	ppid    int
	threads int
	// start is the process's start time in clock ticks since boot; with the
	// pid it names a process even after the pid is reused.
	start uint64
}

func readStat(pid int) (procStat, error) {
	raw, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return procStat{}, err
	}
	// The command name may contain spaces and parentheses; fields resume
	// after the last ')'.
	s := string(raw)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return procStat{}, errors.New("malformed /proc stat")
	}
	fields := strings.Fields(s[i+1:])
	if len(fields) < 20 {
		return procStat{}, errors.New("malformed /proc stat")
	}
	ppid, _ := strconv.Atoi(fields[1])
	threads, _ := strconv.Atoi(fields[17])
	start, _ := strconv.ParseUint(fields[19], 10, 64)
	return procStat{state: fields[0], ppid: ppid, threads: threads, start: start}, nil
}

// StartTime returns the start time of pid in clock ticks since boot.
func StartTime(pid int) (uint64, error) {
	st, err := readStat(pid)
	return st.start, err
}
