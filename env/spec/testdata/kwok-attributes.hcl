kubernetes {
  version = "v1.34.4"
}
component "kube-apiserver" {}
component "kube-scheduler" { nodes = 3 }
component "kwok" {
  nodes   = 100001
  version = "0.8"
}
