kubernetes {
  version = "v1.34.4"
}
build {
  tags     = ["providerless,dockerless"]
  binaries = ["kubectl", "kube-apiserver", "../x"]
  optimize = ["std", "k8s.io/=x"]
}
component "kube-apiserver" {}
