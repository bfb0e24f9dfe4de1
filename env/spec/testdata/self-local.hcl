locals {
  a = local.a
}
kubernetes {
  version = "v1.34.4"
}
component "kube-apiserver" {}
