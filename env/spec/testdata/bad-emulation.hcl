kubernetes {
  version          = "v1.34.4"
  emulated_version = "1.30"
}
component "kube-apiserver" {
  min_compatibility_version = "v1.33"
}
component "kube-controller-manager" {
  emulated_version = "1.35"
}
component "kube-scheduler" {
  emulated_version          = "1.33"
  min_compatibility_version = "1.32"
  kubernetes {
    version          = "v1.33.4"
    emulated_version = "1.32"
  }
}
component "kubelet" {
  emulated_version = "1.33"
}
component "kube-proxy" {
  emulated_version = "1.33"
}
component "kwok" {
  min_compatibility_version = "33"
}
