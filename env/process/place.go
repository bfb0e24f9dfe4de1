package process

import "time"

// A Place is where an environment's processes run, the way kind's exec.Cmder
// and kwok's runtime.Runtime abstract it: this machine's own namespaces
// today (Host); a node's namespaces or another machine are places of their
// own. up, a restart, down, the clean-up after a supervisor that died and
// the bench's floor all start and stop processes through a Place, so a new
// place is one implementation.
type Place interface {
	// Start starts s there, its output in its log.
	Start(s Spec) (*Process, error)
	// StopAll stops those of ids that still run there, processes of owner
	// recorded earlier, perhaps by a supervisor that died.
	StopAll(owner string, ids []ID, timeout time.Duration) error
}

// Host is this machine, in the namespaces kenv runs in.
type Host struct{}

// Start starts s as a child of kenv.
func (Host) Start(s Spec) (*Process, error) { return Start(s) }

// StopAll stops the recorded processes on this machine.
func (Host) StopAll(owner string, ids []ID, timeout time.Duration) error {
	return StopAll(owner, ids, timeout)
}
