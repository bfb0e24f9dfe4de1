package plan

import (
	"os"

	"github.com/kenv-dev/kenv/env/delve"
	"github.com/kenv-dev/kenv/env/node"
)

// Survey finds what a plan takes from this machine: the dlv on PATH, the
// CNI plugins' directory and kenv's own executable. It is the one look at
// the machine a plan has; Decide is handed what it found.
func Survey() Machine {
	kenv, _ := os.Executable()
	return Machine{Dlv: delve.OnPath(), CNIBinDir: node.CNIBinDir(), Kenv: kenv}
}
