locals {
  a = local.b
  b = local.a
  port = env("KENV_TEST_SURELY_UNSET")
}
kubernetes {
  version = "v1.34.4"
}
component "kube-apiserver" {
  port = local.port
}
