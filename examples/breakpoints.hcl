# kube-apiserver under Delve with breakpoints set before it runs: one in
# start-up code, one on the request path.
#   kenv up -d examples/breakpoints.hcl      # reports where it stopped
#   kenv attach kube-apiserver               # continue, step, print ...
name = "breakpoints"

kubernetes {
  version = "v1.34.4"
}

component "kube-apiserver" {
  debug {
    breakpoints = [
      # file.go:Function, relative to the Kubernetes tree
      "cmd/kube-apiserver/app/server.go:Run",
    ]
    # A breakpoint with a condition, in Delve's location syntax.
    breakpoint "k8s.io/apiserver/pkg/registry/generic/registry.(*Store).Create" {
      condition = "e.DefaultQualifiedResource.Resource == \"namespaces\""
    }
  }
}

component "kube-controller-manager" {}
component "kube-scheduler" {}
