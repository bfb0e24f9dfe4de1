kubernetes {
  version = "v1.34.4"
}
build {
  tags     = ["providerless,dockerless"]
  binaries = ["kubectl", "kube-apiserver", "../x"]
}
component "kube-apiserver" {}
