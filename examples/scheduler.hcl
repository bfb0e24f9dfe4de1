# kube-scheduler under Delve, stopped where it schedules a pod.
#   kenv up -d examples/scheduler.hcl
#   kenv kubectl -- run demo --image=registry.k8s.io/pause:3.10   # no node: it stays pending
#   kenv attach kube-scheduler
name = "scheduler"

kubernetes {
  version = "v1.34.4"
}

etcd {
  port = 2479                       # beside an environment on the defaults
}

component "kube-apiserver" {
  port = 7443
}

component "kube-controller-manager" {
  port = 11257
}

component "kube-scheduler" {
  port = 11259
  debug {
    port = 2447
    breakpoints = [
      "pkg/scheduler/schedule_one.go:(*Scheduler).schedulingCycle",   # entered once a pod is popped
    ]
  }
  flags = { v = 4 }
}
