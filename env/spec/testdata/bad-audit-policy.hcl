kubernetes {
  version = "v1.34.4"
}
audit {
  policy = { level = "Metadata" }
}
component "kube-apiserver" {}
