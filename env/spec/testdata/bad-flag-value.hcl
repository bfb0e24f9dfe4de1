kubernetes {
  version = "v1.34.4"
}
component "kube-apiserver" {
  flags = {
    v       = "4"
    vmodule = ["a=1"]
  }
}
