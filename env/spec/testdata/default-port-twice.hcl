kubernetes {
  version = "v1.34.4"
}
component "kube-apiserver" {
  port = 2379
}
