// Command kenv brings up a debuggable Kubernetes control plane from an HCL
// spec.
package main

import (
	"os"

	"github.com/kenv-dev/kenv/cmd/kenv/app"
)

func main() {
	os.Exit(app.Main())
}
