kubernetes {
  version = "v1.34.4"
}
network {
  service_cidr = "10.0.0.1/24"
}
component "kube-apiserver" {
  prot = 6443
}
component "kube-scheduler" {}
component "kube-scheduler" {}
component "kube-schedular" {}
