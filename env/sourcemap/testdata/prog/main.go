// A program built by the sourcemap tests with -trimpath: it uses a module
// from the module cache, its own module and the standard library.
package main

import (
	"fmt"

	"golang.org/x/mod/semver"
)

func main() { fmt.Println(semver.IsValid("v1.34.4")) }
