kubernetes {
  version = "v1.34.4"
}
component "kube-apiserver" {
  port = 70000
}
etcd {
  port = 6443
}
