kubernetes {
  version = "v1.34.4"
  go      = "go1.24.12"
}
component "kube-apiserver" {}
