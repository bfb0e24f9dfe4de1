# This machine as a node: the kubelet (under Delve) and kube-proxy on kenv's
# own containerd, offline. Needs root and, on Debian or Ubuntu:
#   apt-get install containerd runc containernetworking-plugins iptables
# Load images with `kenv image load FILE`, or list them in images below.
kubernetes {
  version = "v1.34.4"
}

component "kube-apiserver" {}
component "kube-controller-manager" {}
component "kube-scheduler" {}

component "kubelet" {
  debug {
    # Logs each pod the kubelet syncs, without stopping it.
    breakpoint "k8s.io/kubernetes/pkg/kubelet.(*Kubelet).SyncPod" {
      trace = true
    }
  }
}

component "kube-proxy" {}
