kubernetes {
  version = "v1.34.4"
}
component "kube-apiserver" {}
component "kube-scheduler" {
  kubernetes { version = "v1.35.0" }
}
component "kube-controller-manager" {
  kubernetes { version = "v1.32.9" }
}
component "kubelet" {
  kubernetes { version = "v1.30.0" }
}
component "kwok" {
  kubernetes { version = "v1.34.4" }
}
