# Your own Kubernetes checkout, built as it is, uncommitted edits included.
#   kenv up --watch examples/checkout.hcl   # each save rebuilds and restarts what it touches
# or
#   kenv up -d examples/checkout.hcl
#   (edit the checkout)
#   kenv restart kube-apiserver     # rebuilds what changed and starts it again
# path is relative to this file: here, a checkout beside the kenv clone.
# The version reads v1.34.4-dirty and the like, from git as upstream.
name = "checkout"

kubernetes {
  path = "../../kubernetes"
}

build {
  binaries = []                     # your checkout has its own kubectl: make WHAT=cmd/kubectl
}

etcd {
  port = 2579                       # beside environments on other ports
}

component "kube-apiserver" {
  port = 8443
  debug {
    port = 2545
  }
}

component "kube-controller-manager" {
  port = 12257
}

component "kube-scheduler" {
  port = 12259
  debug {
    port = 2546
    # Stops at each pod the scheduler takes; `kenv attach kube-scheduler`.
    breakpoint "pkg/scheduler/schedule_one.go:(*Scheduler).schedulingCycle" {}
  }
}
