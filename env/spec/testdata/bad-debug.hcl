kubernetes {
  version = "v1.34.4"
}
component "kube-apiserver" {
  debug {
    port   = 2345
    listen = "127.0.0.1:2346"
    dlv    = "1.27"
    breakpoints = ["main.main", ""]
  }
}
