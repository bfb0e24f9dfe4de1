kubernetes {
  git = ""
  ref = ""
}
component "kube-apiserver" {}
