package state

import (
	"encoding/json"
	"os"
	"testing"

	"github.com/kenv-dev/kenv/env/layout"
	"github.com/kenv-dev/kenv/env/process"
)

// FuzzReadState feeds arbitrary state files to the reader: it must never
// panic, and must not delete what it cannot read.
func FuzzReadState(f *testing.F) {
	good, _ := json.Marshal(&State{Name: "x", Phase: PhaseReady, Components: []ComponentState{{Name: "kube-apiserver", Descendants: []process.ID{{Pid: 1}}}}})
	f.Add(good)
	f.Add([]byte("{"))
	f.Add([]byte(`{"Supervisor": {"Pid": -1, "Start": 18446744073709551615}}`))
	f.Add([]byte(`null`))
	f.Fuzz(func(t *testing.T, raw []byte) {
		env := layout.NewEnv(t.TempDir(), "x")
		if err := os.MkdirAll(env.Dir, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(env.StateFile(), raw, 0o644); err != nil {
			t.Fatal(err)
		}
		s, err := Read(env)
		if err == nil {
			Observe(s)
		}
		if _, statErr := os.Stat(env.StateFile()); statErr != nil {
			t.Fatalf("reading removed the state file: %v", statErr)
		}
	})
}
