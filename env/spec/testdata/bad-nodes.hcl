kubernetes {
  version = "v1.34.4"
}
network {
  pod_cidr = "10.88.0.0/25"
}
component "kube-apiserver" {}
component "kubelet" {}
node "a" {
  taints = ["dedicated"]
}
node "a" {}
node "Node_B" {
  labels = { "zone" = "not valid!" }
  component "kube-scheduler" {}
  component "kube-proxy" {}
}
