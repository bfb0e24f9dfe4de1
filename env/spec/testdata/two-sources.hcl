kubernetes {
  version = "v1.34.4"
  path    = "../kubernetes"
}
component "kube-apiserver" {}
