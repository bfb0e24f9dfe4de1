package supervisor

import "fmt"

// Observe returns the environment's recorded state with each process
// checked: a recorded process that no longer runs is marked so.
func Observe(s *State) *State {
	out := *s
	out.Components = append([]ComponentState(nil), s.Components...)
	if !s.Supervisor.Alive() {
		out.Phase = Phase(fmt.Sprintf("supervisor gone (pid %d); run `kenv down --name %s` to clean up", s.Supervisor.Pid, s.Name))
	}
	for i, c := range out.Components {
		if !c.Process.Alive() && (c.Status == "ready" || c.Status == "starting" || c.Status == "waiting for debugger") {
			out.Components[i].Status = "not running"
		}
	}
	return &out
}
