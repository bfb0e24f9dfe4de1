kubernetes {
  version = "v1.34.4"
  go      = "1.24"
}
component "kube-apiserver" {}
