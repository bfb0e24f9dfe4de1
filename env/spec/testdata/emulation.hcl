kubernetes {
  version          = "v1.34.4"
  emulated_version = "1.33"
}
component "kube-apiserver" {}
component "kube-controller-manager" {
  emulated_version = "1.32"
}
component "kube-scheduler" {}
component "kubelet" {}
