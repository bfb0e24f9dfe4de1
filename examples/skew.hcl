# Version skew: a kube-scheduler of v1.33.13, built from its own tree with
# its own toolchain (Go 1.25) and Delve, beside a v1.34.4 control plane and
# simulated nodes; its scheduling cycle traced under Delve.
#   kenv up -d examples/skew.hcl
#   kenv kubectl --name skew -- create deployment web --image=pause --replicas=5
#   kenv logs --name skew kube-scheduler-trace
name = "skew"

kubernetes {
  version = "v1.34.4"
}

build {
  binaries = []
}

etcd {
  port = 2579                       # beside an environment on the defaults
}

component "kube-apiserver" {
  port = 8443
}

component "kube-controller-manager" {
  port = 12257
}

component "kube-scheduler" {
  port = 12259
  kubernetes {
    version = "v1.33.13"            # the skew policy allows one minor older
  }
  debug {
    port = 2547
    breakpoint "pkg/scheduler/schedule_one.go:(*Scheduler).schedulingCycle" {
      trace = true
    }
  }
}

component "kwok" {
  port  = 12247
  nodes = 3
}
