kubernetes {
  version = "v1.34.4"
}
etcd {
  port = 65535
}
component "kube-apiserver" {}
