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
	"github.com/kenv-dev/kenv/env/node"
	"github.com/kenv-dev/kenv/env/spec"
	"github.com/kenv-dev/kenv/pki"
)

// Runtime is the name of the node's container runtime among the plan's
// components.
const Runtime = "containerd"

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
	Images     []string
	Kubeconfig string
}

// Host is what the node holds on the machine, for host.Sweep.
func (n *Node) Host() host.Node {
	return host.Node{Dir: n.Dir, Transient: []string{n.State, n.IPAMDir}, Socket: n.Socket,
		CgroupRoot: n.CgroupRoot, Bridge: n.Bridge, Record: n.Record}
}

// newNode decides the node's names and directories.
func (p *Plan) newNode(kubelet spec.Component) *Node {
	dir := p.Env.NodeDir()
	name := p.spec.Name
	bridge := "kenv-" + name
	if len(bridge) > 15 { // IFNAMSIZ
		sum := sha256.Sum256([]byte(name))
		bridge = "kenv-" + hex.EncodeToString(sum[:5])
	}
	return &Node{
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
		CNIBinDir:   node.CNIBinDir(),
		Record:      filepath.Join(dir, "host-record.json"),
		Images:      kubelet.Images,
		Kubeconfig:  p.Env.Kubeconfig("admin"),
	}
}

// kubelet is the kubelet of the node, configured as local-up-cluster
// configures it, on kenv's containerd, with its pods under its own
// cgroup and its files under the node's directory.
func (p *Plan) kubelet(c spec.Component) Component {
	n := p.newNode(c)
	p.Node = n
	kubeconfig := p.Env.Kubeconfig("kubelet")
	p.Kubeconfigs = append(p.Kubeconfigs,
		Kubeconfig{Path: kubeconfig, Client: pki.NodeClient, Server: p.localURL},
		Kubeconfig{Path: p.Env.Kubeconfig("kube-proxy"), Client: pki.ProxyClient, Server: p.localURL})
	p.Certificates = append(p.Certificates, pki.NodeLeaves(n.Name, p.localHosts)...)
	config := filepath.Join(p.Env.ConfigDir(), "kubelet.yaml")
	cniConf := filepath.Join(p.Env.ConfigDir(), "cni", "10-kenv.conflist")
	p.Files = append(p.Files,
		File{Path: config, Content: fmt.Sprintf(kubeletConfigYAML, p.spec.Network.BindAddress, c.Port,
			p.cert(pki.KubeletServing), p.key(pki.KubeletServing), p.cert(pki.ClientCA), n.CgroupRoot, n.Socket,
			filepath.Join(n.KubeletRoot, "manifests"), filepath.Join(n.KubeletRoot, "pod-logs"), p.featureGatesYAML())},
		File{Path: cniConf, Content: fmt.Sprintf(cniConfJSON, n.Bridge, n.IPAMDir, n.PodCIDR)},
	)
	p.Components = append(p.Components, p.runtime(n, filepath.Dir(cniConf)))
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

// runtime is the node's containerd, its configuration written as a file
// of the plan.
func (p *Plan) runtime(n *Node, cniConfDir string) Component {
	config := filepath.Join(p.Env.ConfigDir(), "containerd.toml")
	p.Files = append(p.Files, File{Path: config, Content: fmt.Sprintf(containerdTOML,
		n.Root, n.State, n.Socket, n.Socket+".ttrpc", filepath.Join(n.Root, "opt"), node.PauseImage,
		filepath.Join(n.State, "runc"), n.CNIBinDir, cniConfDir)})
	return Component{
		Name:      Runtime,
		Binary:    "containerd",
		Flags:     []Flag{{"config", config}},
		LogPath:   p.Log(Runtime),
		Endpoint:  "unix://" + n.Socket,
		HealthURL: "unix://" + n.Socket,
	}
}

// kubeProxy is kube-proxy in iptables mode for the node's pod range, its
// health check on c's port.
func (p *Plan) kubeProxy(c spec.Component) Component {
	return Component{
		Endpoint:  "http://" + hostPort(p.spec.Network.BindAddress, c.Port),
		HealthURL: "http://" + hostPort(p.localHost, c.Port) + "/healthz",
		Flags: []Flag{
			{"kubeconfig", p.Env.Kubeconfig("kube-proxy")},
			{"hostname-override", p.localHost},
			{"proxy-mode", "iptables"},
			{"cluster-cidr", p.spec.Network.PodCIDR},
			{"healthz-bind-address", hostPort(p.spec.Network.BindAddress, c.Port)},
			{"metrics-bind-address", hostPort(Loopback, 10249)},
			// Leave the machine's conntrack table size alone.
			{"conntrack-max-per-core", "0"},
			{"feature-gates", p.featureGates()},
		},
	}
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

// containerdTOML configures containerd (configuration version 2, read by
// containerd 1.6 and later) with everything in the node's directory. The
// pods' network namespaces are mounted under its state, and it does not
// lower its children's OOM score below its own (kenv may lack
// CAP_SYS_RESOURCE in a container).
const containerdTOML = `version = 2
root = %q
state = %q

[grpc]
  address = %q

[ttrpc]
  address = %q

[plugins."io.containerd.internal.v1.opt"]
  path = %q

[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = %q
  restrict_oom_score_adj = true
  netns_mounts_under_state_dir = true
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        Root = %q
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = %q
    conf_dir = %q
`
