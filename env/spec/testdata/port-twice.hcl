kubernetes {
  version = "v1.34.4"
}
component "kube-apiserver" {
  port = 7443
  debug {
    port = 7443
  }
}
