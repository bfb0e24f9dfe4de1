package plan

import (
	"fmt"
	"path/filepath"

	"github.com/kenv-dev/kenv/env/node"
	"github.com/kenv-dev/kenv/env/spec"
)

const containerdName = "containerd"

// containerd is the node's container runtime, the machine's own binary
// run with kenv's configuration; a spec does not list it: it runs with
// the kubelet, which needs it.
var containerd = Kind{
	Kind: spec.Kind{Name: containerdName, Origin: spec.OnMachine, OnNode: true},

	Implied: true,
	plan:    (*Plan).runtime,
}

// runtime is node n's containerd, its configuration written as a file
// of the plan.
func (p *Plan) runtime(_ spec.Component, n *Node) Component {
	config := filepath.Join(p.Env.ConfigDir(), n.Name, "containerd.toml")
	p.Files = append(p.Files, File{Path: config, Content: fmt.Sprintf(containerdTOML,
		n.Root, n.State, n.Socket, n.Socket+".ttrpc", filepath.Join(n.Root, "opt"), node.PauseImage,
		filepath.Join(n.State, "runc"), n.CNIBinDir, n.CNIConfDir, n.CNITemplate)})
	return Component{
		Binary:    "containerd",
		Flags:     []Flag{{"config", config}},
		Endpoint:  "unix://" + n.Socket,
		HealthURL: "unix://" + n.Socket,
	}
}

// containerdTOML configures containerd (configuration version 2, read by
// containerd 1.6 and later) with everything in the node's directory; it
// writes the node's pod network from the template once the kubelet says
// the node's pod range. The
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
    conf_template = %q
`
