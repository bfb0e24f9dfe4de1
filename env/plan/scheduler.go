package plan

import (
	"fmt"
	"path/filepath"
	"strconv"

	"github.com/kenv-dev/kenv/env/spec"
	"github.com/kenv-dev/kenv/pki"
)

const schedulerName = "kube-scheduler"

// kubeScheduler is the scheduler, configured by a file without leader
// election; it starts once kube-apiserver accepts connections.
var kubeScheduler = Kind{
	Kind:  spec.Kind{Name: schedulerName, Port: 10259, DebugPort: 2347, Skew: 1, Takes: emulating},
	Needs: []Need{{apiServerName, Serving}},
	plan:  (*Plan).scheduler,
}

func (p *Plan) scheduler(c spec.Component, _ *Node) Component {
	kubeconfig := p.apiClient("scheduler", pki.SchedulerClient, "system:kube-scheduler")
	p.Certificates = append(p.Certificates, pki.ServingLeaf(pki.SchedulerServing, schedulerName, p.localHosts))
	config := filepath.Join(p.Env.ConfigDir(), "kube-scheduler.yaml")
	p.Files = append(p.Files, File{Path: config, Content: fmt.Sprintf(schedulerConfigYAML, kubeconfig)})
	return Component{
		HealthURL: p.healthURL(c.Port, "/healthz"),
		Flags: []Flag{
			{"config", config},
			{"feature-gates", p.featureGates()},
			{"authentication-kubeconfig", kubeconfig},
			{"authorization-kubeconfig", kubeconfig},
			{"tls-cert-file", p.cert(pki.SchedulerServing)},
			{"tls-private-key-file", p.key(pki.SchedulerServing)},
			{"secure-port", strconv.Itoa(c.Port)},
			{"bind-address", p.spec.Network.BindAddress},
		},
	}
}

const schedulerConfigYAML = `apiVersion: kubescheduler.config.k8s.io/v1
kind: KubeSchedulerConfiguration
clientConnection:
  kubeconfig: %s
leaderElection:
  leaderElect: false
`
