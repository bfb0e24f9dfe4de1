# Three real nodes, each a containerd, a kubelet and a kube-proxy in network
# and mount namespaces of its own, joined to this machine by the bridge
# kenv-nodes; node-2's kubelet runs under Delve. Needs root and, on Debian
# or Ubuntu:
#   apt-get install containerd runc containernetworking-plugins iptables
#   kenv up -d examples/nodes.hcl
#   kenv kubectl --name nodes -- get nodes -o wide
#   kenv attach --name nodes node-2/kubelet
#   kenv kubectl --name nodes -- run -it --rm q --image=... -- nslookup kubernetes
name = "nodes"

kubernetes {
  version = "v1.34.4"
}

network {
  # Apart from an environment on the defaults.
  node_cidr    = "10.90.0.0/24"
  pod_cidr     = "10.91.0.0/16"
  service_cidr = "10.92.0.0/24"
}

etcd {
  port = 2679
}

component "kube-apiserver" {
  port = 7443
}
component "kube-controller-manager" {
  port = 11257
}
component "kube-scheduler" {
  port = 11259
}

# How every node runs its kubelet and kube-proxy.
component "kubelet" {}
component "kube-proxy" {}

# Cluster DNS for the pods: CoreDNS, built from its Go module, behind the
# kube-dns Service (10.92.0.10).
component "coredns" {}

node "node-0" {}
node "node-1" {
  labels = { "topology.kubernetes.io/zone" = "b" }
}
node "node-2" {
  labels = { "topology.kubernetes.io/zone" = "c" }
  # This node's kubelet, under Delve: each pod it syncs is logged.
  component "kubelet" {
    debug {
      breakpoint "k8s.io/kubernetes/pkg/kubelet.(*Kubelet).SyncPod" {
        trace = true
      }
    }
  }
}
