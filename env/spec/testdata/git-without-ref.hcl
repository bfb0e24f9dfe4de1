kubernetes {
  git = "https://example.invalid/kubernetes.git"
}
component "kube-apiserver" {}
