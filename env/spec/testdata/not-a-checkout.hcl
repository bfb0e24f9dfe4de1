kubernetes {
  path = "."
}
component "kube-apiserver" {}
