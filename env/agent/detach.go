package agent

import (
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
)

// stageVar tells a re-executed agent which part of Detach it is.
const stageVar = "KENV_AGENT_STAGE"

// Detach runs the agent's session apart from whoever started it, and
// returns its exit code; f is the session itself. The agent guards the
// cluster when kenv is gone, so it must outlive its caller: an exec
// prefix that enters a node from this very machine (nsenter) makes the
// agent a child of kenv, killed with kenv's process group or when kenv
// dies. So the caller's process (the front) starts kenv again in a
// session of its own (the middle), which starts the agent proper and
// exits: the agent is then nobody's descendant, and signals to the front,
// or its death, reach it only as the end of its input, the way the end of
// an ssh session does. The front waits for the agent's exit code on a
// pipe the agent holds, and exits with it.
//
// Detach returns handled=false in the agent proper, which then runs f;
// the front and the middle return handled=true with the code to exit
// with.
func Detach(self string, args []string) (code int, handled bool) {
	switch os.Getenv(stageVar) {
	case "agent":
		return 0, false
	case "middle":
		cmd := exec.Command(self, args...)
		cmd.Env = append(os.Environ(), stageVar+"=agent")
		cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
		cmd.ExtraFiles = []*os.File{os.NewFile(3, "agent-status")}
		if err := cmd.Start(); err != nil {
			fmt.Fprintf(os.Stderr, "kenv-agent: %v\n", err)
			return 1, true
		}
		return 0, true
	}
	r, w, err := os.Pipe()
	if err != nil {
		fmt.Fprintf(os.Stderr, "kenv-agent: %v\n", err)
		return 1, true
	}
	cmd := exec.Command(self, args...)
	cmd.Env = append(os.Environ(), stageVar+"=middle")
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	cmd.ExtraFiles = []*os.File{w}
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	err = cmd.Run()
	w.Close()
	if err != nil {
		fmt.Fprintf(os.Stderr, "kenv-agent: start the agent: %v\n", err)
		return 1, true
	}
	status, _ := io.ReadAll(r)
	code, err = strconv.Atoi(strings.TrimSpace(string(status)))
	if err != nil {
		fmt.Fprintf(os.Stderr, "kenv-agent: the agent ended without an exit code\n")
		return 1, true
	}
	return code, true
}

// Report gives the front the agent proper's exit code.
func Report(code int) {
	if os.Getenv(stageVar) != "agent" {
		return
	}
	status := os.NewFile(3, "agent-status")
	fmt.Fprintf(status, "%d\n", code)
	status.Close()
}
