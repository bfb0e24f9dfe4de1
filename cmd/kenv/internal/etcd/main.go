//go:build e2e

// Command etcd is etcd's own main, built from the etcd server module kenv
// requires, for the end-to-end tests' kubeadm cluster (its etcd static
// pod's image).
package main

import (
	"os"

	"go.etcd.io/etcd/server/v3/etcdmain"
)

func main() { etcdmain.Main(os.Args) }
