// Command kenv brings up a debuggable Kubernetes control plane from an HCL
// spec.
package main

import (
	"os"

	"github.com/moby/sys/reexec"

	"github.com/kenv-dev/kenv/cmd/kenv/app"
	// Registers the child that makes a node's namespaces.
	_ "github.com/kenv-dev/kenv/env/ns"
)

func main() {
	// kenv started again as a child of its own (env/ns) runs that and exits.
	if reexec.Init() {
		return
	}
	os.Exit(app.Main())
}
