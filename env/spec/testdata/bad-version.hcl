kubernetes {
  version = "1.34"
}
component "kube-apiserver" {}
