kubernetes {
  version = "v1.34.4"
}
network {
  pod_cidr = "10.0.0.0/16"
}
component "kube-apiserver" {
  images = ["app.tar"]
}
component "kubelet" {
  images = ["no-such-image.tar"]
}
