package plan

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"maps"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/kenv-dev/kenv/env/host"
	"github.com/kenv-dev/kenv/env/spec"
	"github.com/kenv-dev/kenv/pki"
)

const kubeletName = "kubelet"

// kubelet makes this machine a node, on kenv's own containerd, whose
// images it needs before it starts.
var kubelet = Kind{
	Kind:  spec.Kind{Name: kubeletName, Port: 10250, DebugPort: 2348, Skew: 3, Takes: []string{"images"}},
	Needs: []Need{{apiServerName, Serving}, {containerdName, Stocked}},
	plan:  (*Plan).kubelet,
}

// Node is this machine as a node: the kubelet and kube-proxy on kenv's own
// containerd, whose root, state, configuration and socket are the
// environment's.
type Node struct {
	// Name is the node's name, and where kube-apiserver reaches the
	// kubelet: local-up-cluster's 127.0.0.1, or the bind address.
	Name    string
	PodCIDR string
	// Socket is containerd's CRI socket.
	Socket string
	// Dir holds containerd's Root (images, kept across down) and State,
	// the kubelet's root and the pod IPs the bridge hands out (IPAMDir);
	// Host says what down removes.
	Dir         string
	Root        string
	State       string
	KubeletRoot string
	IPAMDir     string
	Bridge      string
	CgroupRoot  string
	CNIBinDir   string
	// Record is where up records the machine as it was, for down.
	Record string
	// PauseSource is the tree's pause.c, built into PauseDir as the image
	// every pod's sandbox runs.
	PauseSource string
	PauseDir    string
	// Images are the spec's image tarballs, imported at every up.
	Images []string
	// KubeletLog is the kubelet's log, for a node that never gets Ready.
	KubeletLog string
	Kubeconfig string
}

// Host is what the node holds on the machine, for host.Sweep.
func (n *Node) Host() host.Node {
	return host.Node{Dir: n.Dir, Transient: []string{n.State, n.IPAMDir}, Socket: n.Socket,
		CgroupRoot: n.CgroupRoot, Bridge: n.Bridge, Record: n.Record}
}

// node decides the node's names and directories, once: the kubelet,
// kube-proxy and the runtime share them.
func (p *Plan) node() *Node {
	if p.Node != nil {
		return p.Node
	}
	dir := p.Env.NodeDir()
	name := p.spec.Name
	bridge := "kenv-" + name
	if len(bridge) > 15 { // IFNAMSIZ
		sum := sha256.Sum256([]byte(name))
		bridge = "kenv-" + hex.EncodeToString(sum[:5])
	}
	p.Node = &Node{
		Name:        p.localHost,
		PodCIDR:     p.spec.Network.PodCIDR,
		Socket:      p.Env.RuntimeSocket(),
		Dir:         dir,
		Root:        filepath.Join(dir, "containerd"),
		State:       filepath.Join(dir, "run"),
		KubeletRoot: filepath.Join(dir, "kubelet"),
		IPAMDir:     filepath.Join(dir, "ipam"),
		Bridge:      bridge,
		CgroupRoot:  "/kenv-" + name,
		CNIBinDir:   p.inputs.Machine.CNIBinDir,
		Record:      filepath.Join(dir, "host-record.json"),
		Kubeconfig:  p.Env.Kubeconfig("admin"),
		KubeletLog:  p.Log(kubeletName),
	}
	if c := p.spec.Component(kubeletName); c != nil {
		p.Node.Images = c.Images
	}
	return p.Node
}

// kubelet is the kubelet of the node, configured as local-up-cluster
// configures it, on kenv's containerd, with its pods under its own
// cgroup and its files under the node's directory.
func (p *Plan) kubelet(c spec.Component) Component {
	n := p.node()
	// local-up-cluster's: the node's client certificate, and its serving
	// certificate for where kube-apiserver reaches it.
	kubeconfig := p.apiClient("kubelet", pki.NodeClient, "system:node:"+n.Name, "system:nodes")
	p.Certificates = append(p.Certificates, pki.ServingLeaf(pki.KubeletServing, kubeletName, p.localHosts))
	config := filepath.Join(p.Env.ConfigDir(), "kubelet.yaml")
	cniConf := filepath.Join(p.cniConfDir(), "10-kenv.conflist")
	p.Files = append(p.Files,
		File{Path: config, Content: fmt.Sprintf(kubeletConfigYAML, p.spec.Network.BindAddress, c.Port,
			p.cert(pki.KubeletServing), p.key(pki.KubeletServing), p.cert(pki.ClientCA), n.CgroupRoot, n.Socket,
			filepath.Join(n.KubeletRoot, "manifests"), filepath.Join(n.KubeletRoot, "pod-logs"), p.featureGatesYAML())},
		File{Path: cniConf, Content: fmt.Sprintf(cniConfJSON, n.Bridge, n.IPAMDir, n.PodCIDR)},
	)
	return Component{
		HealthURL: p.healthURL(c.Port, "/healthz"),
		Flags: []Flag{
			{"config", config},
			{"kubeconfig", kubeconfig},
			{"hostname-override", n.Name},
			{"root-dir", n.KubeletRoot},
		},
	}
}

// cniConfDir holds the node's network configuration, which the runtime
// reads.
func (p *Plan) cniConfDir() string { return filepath.Join(p.Env.ConfigDir(), "cni") }

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
// full disk does not take the pods or the images loaded offline.
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
resolvConf: /etc/resolv.conf
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
featureGates: %s
`

// cniConfJSON is local-up-cluster's network: a bridge with masquerade and
// host ports, with the pod IPs kept in the node's directory.
const cniConfJSON = `{
  "cniVersion": "0.4.0",
  "name": "kenv",
  "plugins": [
    {
      "type": "bridge",
      "bridge": %q,
      "isGateway": true,
      "ipMasq": true,
      "hairpinMode": true,
      "ipam": {
        "type": "host-local",
        "dataDir": %q,
        "ranges": [[{"subnet": %q}]],
        "routes": [{"dst": "0.0.0.0/0"}]
      }
    },
    {
      "type": "portmap",
      "capabilities": {"portMappings": true},
      "externalSetMarkChain": "KUBE-MARK-MASQ"
    }
  ]
}
`
