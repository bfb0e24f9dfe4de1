package agent

import (
	"fmt"
	"io"
	"os"
	"time"
)

// output is where a session's lines go. The agent and the component write
// to the log file only; a follower copies what the log gains to out, the
// session. So neither ever waits on a session that stalls (a closed
// laptop's connection still looks open), the component keeps its output
// when the session is gone, and out is given up at its first failed write.
type output struct {
	log  *os.File
	stop chan struct{}
	done chan struct{}
}

// followEvery is how often the follower looks for more in the log.
const followEvery = 100 * time.Millisecond

// openOutput appends to the log at path and copies to out what is
// appended from now on.
func openOutput(path string, out io.Writer) (*output, error) {
	log, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		return nil, err
	}
	follow, err := os.Open(path)
	if err != nil {
		log.Close()
		return nil, err
	}
	if _, err := follow.Seek(0, io.SeekEnd); err != nil {
		log.Close()
		follow.Close()
		return nil, err
	}
	o := &output{log: log, stop: make(chan struct{}), done: make(chan struct{})}
	go o.follow(follow, out)
	return o, nil
}

func (o *output) follow(log *os.File, out io.Writer) {
	defer close(o.done)
	defer log.Close()
	buf := make([]byte, 32*1024)
	copyNew := func() error {
		for {
			n, err := log.Read(buf)
			if n > 0 {
				if _, werr := out.Write(buf[:n]); werr != nil {
					return werr
				}
			}
			if err != nil || n == 0 {
				return nil // at the end of the log for now
			}
		}
	}
	tick := time.NewTicker(followEvery)
	defer tick.Stop()
	for {
		select {
		case <-tick.C:
			if copyNew() != nil {
				<-o.stop
				return
			}
		case <-o.stop:
			_ = copyNew()
			return
		}
	}
}

// say writes a line of the agent's.
func (o *output) say(format string, args ...any) {
	fmt.Fprintf(o.log, "kenv-agent: "+format+" [%s]\n", append(args, time.Now().Format("15:04:05.000"))...)
}

// close copies what is left to out, for a moment at most: a session that
// stalls does not hold the agent.
func (o *output) close() {
	close(o.stop)
	select {
	case <-o.done:
	case <-time.After(2 * time.Second):
	}
	o.log.Close()
}
