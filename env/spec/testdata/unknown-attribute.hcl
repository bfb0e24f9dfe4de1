kubernetes {
  versoin = "v1.34.4"
}
component "kube-apiserver" {}
