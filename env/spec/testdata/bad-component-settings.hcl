kubernetes {
  version = "v1.34.4"
}
component "kube-apiserver" {
  enabled   = false
  verbosity = -1
  vmodule   = { "round_trippers" = 1.5 }
  debug {
    dlv_args = ["--log", "--listen=0.0.0.0:1"]
  }
}
