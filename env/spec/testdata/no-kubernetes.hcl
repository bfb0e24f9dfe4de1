component "kube-apiserver" {}
