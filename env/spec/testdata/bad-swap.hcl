etcd {
  port = 3379
}
cluster {
  kubeconfig    = "kubeconfig"
  restore_after = "1s"
  node "cp-1" {}
  node "cp-2" {
    ssh  = "root@10.0.0.6"
    exec = ["docker", "exec", "-i", "kind-control-plane"]
  }
  node "cp-3" {
    exec      = ["minikube", "ssh", "--"]
    manifests = "etc/kubernetes/manifests"
  }
}
component "kube-apiserver" {
  node = "cp-9"
}
component "kube-scheduler" {
  flags = { v = "4" }
  emulated_version = "1.33"
}
component "kube-proxy" {}
