kubernetes {
  version = ""
}
component "kube-apiserver" {}
