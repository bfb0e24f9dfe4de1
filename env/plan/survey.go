package plan

import (
	"github.com/kenv-dev/kenv/env/delve"
	"github.com/kenv-dev/kenv/env/node"
)

// Survey finds what a plan takes from this machine: the dlv on PATH and
// the CNI plugins' directory. It is the one look at the machine a plan
// has; Decide is handed what it found.
func Survey() Machine {
	return Machine{Dlv: delve.OnPath(), CNIBinDir: node.CNIBinDir()}
}
