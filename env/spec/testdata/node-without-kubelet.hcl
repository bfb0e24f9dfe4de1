kubernetes {
  version = "v1.34.4"
}
component "kube-apiserver" {}
node "a" {}
