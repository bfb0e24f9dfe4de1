# An apiserver experiment with an audit policy, feature gates and vmodule.
#   kenv up -d examples/audit.hcl
#   kenv kubectl --name audit -- create configmap demo --from-literal=a=b
#   kenv logs --name audit kube-apiserver-audit    # the request, with its body
name = "audit"

locals {
  # Requests for these are logged with their bodies; the rest with metadata.
  watched = ["configmaps", "secrets"]
}

kubernetes {
  version = "v1.34.4"
}

feature_gates = {
  AllAlpha                  = false
  InPlacePodVerticalScaling = true
}

audit {
  policy = {
    rules = [
      { level = "RequestResponse", resources = [{ group = "", resources = local.watched }] },
      { level = "Metadata" },
    ]
  }
}

log {
  verbosity = 2
}

etcd {
  port = 2679
}

component "kube-apiserver" {
  port    = 9443
  vmodule = { "httplog" = 5 }       # every request the apiserver serves, in its log
}

component "kube-controller-manager" {
  port = 13257
}
