# A control plane with kube-apiserver under Delve.
#   kenv up examples/debug.hcl
#   dlv connect 127.0.0.1:2345
name = "debug"

kubernetes {
  version = "v1.34.4"
}

etcd {
  port = 2379
}

component "kube-apiserver" {
  port = 6443
  debug {
    port = 2345
    wait = false
  }
  flags = { v = "4" }
}

component "kube-controller-manager" {}
component "kube-scheduler" {}
