kubernetes {
  version = "v1.34.4"
}
audit {
  policy      = { rules = [{ level = "Metadata" }] }
  policy_file = "audit.yaml"
}
component "kube-apiserver" {}
