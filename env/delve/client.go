package delve

import (
	"net"
	"strings"
	"time"

	"github.com/go-delve/delve/service/rpc2"
)

// ProgramExited asks the headless Delve at addr whether the program it
// debugs has exited, and if so how. Delve itself stays up after that,
// waiting for clients, so its process alone does not tell.
func ProgramExited(addr string) (exited bool, how string) {
	conn, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		return false, ""
	}
	defer conn.Close()
	if err := conn.SetDeadline(time.Now().Add(2 * time.Second)); err != nil {
		return false, ""
	}
	state, err := rpc2.NewClientFromConn(conn).GetStateNonBlocking()
	switch {
	case err != nil && strings.Contains(err.Error(), "has exited with status"):
		// Delve answers "Process 42 has exited with status 1".
		return true, err.Error()
	case err == nil && state.Exited:
		return true, "the program exited"
	}
	return false, ""
}
