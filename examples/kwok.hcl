# A control plane with 100 simulated nodes (kwok) and the scheduler under
# Delve, its scheduling cycle traced: schedule many pods in seconds, with
# neither a container runtime nor root.
#   kenv up examples/kwok.hcl
#   kubectl create deployment web --image=pause --replicas=500
#   kenv logs kube-scheduler-trace
name = "kwok"

kubernetes {
  version = "v1.34.4"
}

# Ports of their own, so that this environment runs beside examples/debug.hcl.
etcd {
  port = 2389
}

component "kube-apiserver" {
  port = 6444
}

component "kube-controller-manager" {
  port = 10357
}

component "kube-scheduler" {
  port = 10359
  debug {
    port = 2357
    breakpoint "pkg/scheduler/schedule_one.go:(*Scheduler).schedulingCycle" {
      trace = true
    }
  }
}

component "kwok" {
  nodes = 100
  port  = 10347
}
