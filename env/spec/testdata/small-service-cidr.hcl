kubernetes {
  version = "v1.34.4"
}
network {
  service_cidr = "10.0.0.0/8"
}
component "kube-apiserver" {}
