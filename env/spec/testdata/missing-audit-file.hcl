kubernetes {
  version = "v1.34.4"
}
audit {
  policy_file = "no-such-policy.yaml"
}
component "kube-apiserver" {}
