kubernetes {
  version = "v1.34.4"
}
authorization_modes = ["Node", "RBCA"]
feature_gates = {
  InPlacePodVerticalScaling = "yes"
  lower-case                = true
}
admission {
  enable  = ["AlwaysPullImages"]
  disable = ["AlwaysPullImages", "not a plugin"]
}
component "kube-apiserver" {}
