cluster {
  kubeconfig = "kubeconfig"
  node "cp-1" {
    ssh         = "root@10.0.0.5"
    ssh_options = ["-p", "2222"]
  }
}
component "kube-apiserver" {
  debug {
    breakpoints = ["staging/src/k8s.io/apiserver/pkg/endpoints/handlers/create.go:CreateResource"]
  }
}
