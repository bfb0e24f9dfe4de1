kubernetes {
  version = "v1.34.4"
}
network {
  bind_address = "localhost"
  api_host     = "Not A Host"
  service_cidr = "10.0.0.1/24"
}
component "kube-apiserver" {}
