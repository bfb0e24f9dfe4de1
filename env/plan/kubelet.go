package plan

import (
	"fmt"
	"maps"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/kenv-dev/kenv/env/spec"
	"github.com/kenv-dev/kenv/pki"
)

const kubeletName = "kubelet"

// kubelet runs on every node, on the node's containerd, whose images it
// needs before it starts.
var kubelet = Kind{
	Kind:  spec.Kind{Name: kubeletName, Port: 10250, DebugPort: 2348, Skew: 3, Takes: []string{"images"}, OnNode: true},
	Needs: []Need{{apiServerName, Serving}, {containerdName, Stocked}},
	plan:  (*Plan).kubelet,
}

// kubelet is the kubelet of node n, configured as local-up-cluster
// configures it, on the node's containerd, with its pods under the node's
// cgroup and its files under the node's directory.
func (p *Plan) kubelet(c spec.Component, n *Node) Component {
	// local-up-cluster's: the node's client certificate, and its serving
	// certificate for where kube-apiserver reaches it.
	kubeconfig := p.apiClient("kubelet-"+n.Name, pki.NodeClient+"-"+n.Name, "system:node:"+n.Name, "system:nodes")
	serving := pki.KubeletServing + "-" + n.Name
	p.Certificates = append(p.Certificates, pki.ServingLeaf(serving, kubeletName, []string{n.Name, n.Addr.Addr().String()}))
	config := filepath.Join(p.Env.ConfigDir(), n.Name, "kubelet.yaml")
	resolv := filepath.Join(p.Env.ConfigDir(), n.Name, "resolv.conf")
	p.Files = append(p.Files,
		File{Path: config, Content: fmt.Sprintf(kubeletConfigYAML, n.Addr.Addr(), c.Port,
			p.cert(serving), p.key(serving), p.cert(pki.ClientCA), n.CgroupRoot, n.Socket,
			filepath.Join(n.KubeletRoot, "manifests"), filepath.Join(n.KubeletRoot, "pod-logs"), resolv,
			p.featureGatesYAML(), taintsYAML(n.Taints), p.clusterDNSYAML())},
		// The node reaches no name server beyond the cluster's.
		File{Path: resolv, Content: "# kenv: the node " + n.Name + " has no name server of its own\n"},
	)
	return Component{
		HealthURL: "https://" + hostPort(n.Addr.Addr().String(), c.Port) + "/healthz",
		Flags: []Flag{
			{"config", config},
			{"kubeconfig", kubeconfig},
			{"hostname-override", n.Name},
			{"node-ip", n.Addr.Addr().String()},
			{"root-dir", n.KubeletRoot},
		},
	}
}

// clusterDNSYAML is the kubelet's clusterDNS: the kube-dns Service's
// address when the spec runs CoreDNS.
func (p *Plan) clusterDNSYAML() string {
	if p.spec.Component(coreDNSName) == nil {
		return "[]"
	}
	return "[" + clusterDNS(p.spec.Network.ServiceCIDR) + "]"
}

// taintsYAML renders taints as the kubelet configuration's
// registerWithTaints.
func taintsYAML(taints []string) string {
	var items []string
	for _, t := range taints {
		kv, effect, _ := strings.Cut(t, ":")
		key, value, _ := strings.Cut(kv, "=")
		items = append(items, fmt.Sprintf("{key: %q, value: %q, effect: %s}", key, value, effect))
	}
	return "[" + strings.Join(items, ", ") + "]"
}

// featureGatesYAML renders the feature gates as a YAML flow mapping, for
// a configuration file.
func (p *Plan) featureGatesYAML() string {
	gates := p.spec.FeatureGates
	if gates == nil {
		gates = map[string]bool{"AllAlpha": false}
	}
	var items []string
	for _, name := range slices.Sorted(maps.Keys(gates)) {
		items = append(items, name+": "+strconv.FormatBool(gates[name]))
	}
	return "{" + strings.Join(items, ", ") + "}"
}

// kubeletConfigYAML is local-up-cluster's kubelet configuration, with the
// node's paths; eviction and image garbage collection are off, so that a
// full disk does not take the pods or the images loaded offline. The
// kubelet looks at its node's status every second rather than ten, and
// reports it when it changes (and every five minutes, the default): a
// kubelet that starts on a busy machine reports its node NotReady before
// its first pod list, and would say it is Ready only ten seconds later.
const kubeletConfigYAML = `apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
address: %s
port: %d
readOnlyPort: 0
healthzPort: 0
tlsCertFile: %s
tlsPrivateKeyFile: %s
authentication:
  anonymous:
    enabled: false
  webhook:
    enabled: true
  x509:
    clientCAFile: %s
authorization:
  mode: Webhook
cgroupDriver: cgroupfs
cgroupRoot: %s
cgroupsPerQOS: true
failCgroupV1: false
failSwapOn: false
containerRuntimeEndpoint: unix://%s
staticPodPath: %s
podLogsDir: %s
resolvConf: %s
clusterDomain: cluster.local
rotateCertificates: false
runtimeRequestTimeout: 2m
evictionHard:
  memory.available: "0%%"
  nodefs.available: "0%%"
  nodefs.inodesFree: "0%%"
  imagefs.available: "0%%"
imageGCHighThresholdPercent: 100
imageGCLowThresholdPercent: 99
nodeStatusUpdateFrequency: 1s
nodeStatusReportFrequency: 5m
featureGates: %s
registerWithTaints: %s
clusterDNS: %s
`
