// Package plan computes, without side effects, everything `kenv up` will do
// for a spec: the files it writes, the certificates it makes, and each
// component's command line and health check. The flags follow
// hack/local-up-cluster.sh, bound to loopback.
package plan

import (
	"fmt"
	"net"
	"net/netip"
	"path/filepath"
	"strconv"

	"github.com/kenv-dev/kenv/env/layout"
	"github.com/kenv-dev/kenv/env/spec"
	"github.com/kenv-dev/kenv/pki"
)

// Defaults local-up-cluster uses where the spec has no say yet.
const (
	BindAddress    = "127.0.0.1"
	serviceCIDR    = "10.0.0.0/24"
	logLevel       = "3"
	featureGates   = "AllAlpha=false"
	corsOrigins    = `//127.0.0.1(:[0-9]+)?$,//localhost(:[0-9]+)?$`
	admissionChain = "NamespaceLifecycle,LimitRanger,ServiceAccount,DefaultStorageClass,DefaultTolerationSeconds,Priority,MutatingAdmissionWebhook,ValidatingAdmissionWebhook,ResourceQuota,NodeRestriction"
)

// Plan is what `kenv up` does for one spec.
type Plan struct {
	Name string
	Env  layout.Env
	// APIServerURL is where clients reach kube-apiserver.
	APIServerURL string
	Etcd         Etcd
	Certificates []pki.Leaf
	Kubeconfigs  []Kubeconfig
	Files        []File
	Components   []Component
}

// Etcd is the embedded etcd's configuration.
type Etcd struct {
	ClientURL string
	PeerURL   string
	DataDir   string
	LogPath   string
}

// Kubeconfig is a kubeconfig to write, with the client certificate it embeds.
type Kubeconfig struct {
	Path   string
	Client string
}

// File is a configuration file a component reads.
type File struct {
	Path    string
	Content string
}

// Component is one process to run.
type Component struct {
	Name   string
	Binary string
	Flags  []Flag
	// Env is added to kenv's own environment.
	Env     []string
	LogPath string
	// Address is host:port of the component's secure port.
	Address string
	// HealthURL answers 200 once the component is ready.
	HealthURL string
	Debug     *Debug
	// RestartOnFailure restarts the component when it exits with an error.
	RestartOnFailure bool
}

// Debug says how Delve runs a component.
type Debug struct {
	Listen string
	// Wait leaves the program stopped at entry for a client to continue.
	Wait bool
	// Dlv pins a Delve release; empty means the one the toolchain needs.
	Dlv         string
	Breakpoints []spec.Breakpoint
}

// Continue reports whether Delve starts the program right away. With
// breakpoints to set, kenv continues it once they are set.
func (d *Debug) Continue() bool {
	return !d.Wait && len(d.Breakpoints) == 0
}

// Flag is one --name=value command-line flag.
type Flag struct {
	Name  string
	Value string
}

// Args renders the flags as command-line arguments.
func (c Component) Args() []string {
	args := make([]string, 0, len(c.Flags))
	for _, f := range c.Flags {
		args = append(args, "--"+f.Name+"="+f.Value)
	}
	return args
}

// Command is the full command line that runs the component: the binary
// itself, or Delve running it when the component is debugged.
func (c Component) Command(dlv string) []string {
	if c.Debug == nil {
		return append([]string{c.Binary}, c.Args()...)
	}
	argv := []string{dlv, "exec", "--headless", "--api-version=2", "--accept-multiclient",
		"--listen=" + c.Debug.Listen}
	if c.Debug.Continue() {
		argv = append(argv, "--continue")
	}
	argv = append(argv, c.Binary, "--")
	return append(argv, c.Args()...)
}

// Flag returns the value of the named flag and whether it is set.
func (c Component) Flag(name string) (string, bool) {
	for _, f := range c.Flags {
		if f.Name == name {
			return f.Value, true
		}
	}
	return "", false
}

// New computes the plan of s, whose binaries live in binDir.
func New(s *spec.Spec, env layout.Env, binDir string) (*Plan, error) {
	firstServiceIP, err := firstIP(serviceCIDR)
	if err != nil {
		return nil, err
	}
	api := s.Component(spec.KubeAPIServer)
	if api == nil {
		return nil, fmt.Errorf("spec %s has no kube-apiserver", s.File)
	}
	p := &Plan{
		Name:         s.Name,
		Env:          env,
		APIServerURL: "https://" + net.JoinHostPort(BindAddress, strconv.Itoa(api.Port)),
		Etcd: Etcd{
			ClientURL: "http://" + net.JoinHostPort(BindAddress, strconv.Itoa(s.Etcd.Port)),
			PeerURL:   "http://" + net.JoinHostPort(BindAddress, strconv.Itoa(s.Etcd.PeerPort)),
			DataDir:   env.EtcdDir(),
			LogPath:   env.Log("etcd"),
		},
		Certificates: pki.ControlPlaneLeaves([]string{
			"localhost", BindAddress, firstServiceIP.String(),
			"kubernetes", "kubernetes.default", "kubernetes.default.svc",
			"kubernetes.default.svc.cluster", "kubernetes.default.svc.cluster.local",
		}, []string{"localhost", BindAddress}),
		Kubeconfigs: []Kubeconfig{
			{Path: env.Kubeconfig("admin"), Client: pki.AdminClient},
			{Path: env.Kubeconfig("controller"), Client: pki.ControllerClient},
			{Path: env.Kubeconfig("scheduler"), Client: pki.SchedulerClient},
		},
	}
	for _, c := range s.Components {
		var comp Component
		switch c.Name {
		case spec.KubeAPIServer:
			comp = p.apiServer(s, c)
		case spec.KubeControllerManager:
			comp = p.controllerManager(c)
		case spec.KubeScheduler:
			comp = p.scheduler(c)
		default:
			return nil, fmt.Errorf("kenv cannot run %s yet", c.Name)
		}
		comp.Name = c.Name
		comp.Binary = filepath.Join(binDir, c.Name)
		comp.LogPath = env.Log(c.Name)
		comp.Address = net.JoinHostPort(BindAddress, strconv.Itoa(c.Port))
		comp.Env = []string{"KUBE_CACHE_MUTATION_DETECTOR=false", "KUBE_PANIC_WATCH_DECODE_ERROR=true"}
		if c.Debug != nil {
			comp.Debug = &Debug{Listen: c.Debug.Listen, Wait: c.Debug.Wait, Dlv: c.Debug.Dlv, Breakpoints: c.Debug.Breakpoints}
		}
		comp.Flags = override(comp.Flags, c)
		comp.RestartOnFailure = c.Restart == spec.RestartOnFailure
		p.Components = append(p.Components, comp)
	}
	return p, nil
}

func (p *Plan) cert(name string) string { return pki.CertPath(p.Env.CertDir(), name) }
func (p *Plan) key(name string) string  { return pki.KeyPath(p.Env.CertDir(), name) }

func (p *Plan) apiServer(s *spec.Spec, c spec.Component) Component {
	auditPolicy := filepath.Join(p.Env.ConfigDir(), "audit-policy.yaml")
	egress := filepath.Join(p.Env.ConfigDir(), "egress-selector.yaml")
	p.Files = append(p.Files,
		File{Path: auditPolicy, Content: auditPolicyYAML},
		File{Path: egress, Content: egressSelectorYAML},
	)
	saKey := p.key(pki.ServiceAccount)
	return Component{
		HealthURL: p.APIServerURL + "/readyz",
		Flags: []Flag{
			{"v", logLevel},
			{"authorization-mode", "Node,RBAC"},
			{"audit-policy-file", auditPolicy},
			{"audit-log-path", p.Env.Log("kube-apiserver-audit")},
			{"cert-dir", p.Env.CertDir()},
			{"egress-selector-config-file", egress},
			{"client-ca-file", p.cert(pki.ClientCA)},
			{"kubelet-client-certificate", p.cert(pki.KubeletClient)},
			{"kubelet-client-key", p.key(pki.KubeletClient)},
			{"service-account-key-file", saKey},
			{"service-account-lookup", "true"},
			{"service-account-issuer", "https://kubernetes.default.svc"},
			{"service-account-jwks-uri", "https://kubernetes.default.svc/openid/v1/jwks"},
			{"service-account-signing-key-file", saKey},
			{"enable-admission-plugins", admissionChain},
			{"bind-address", BindAddress},
			// Loopback binding would otherwise make the apiserver look for
			// a non-loopback interface to advertise.
			{"advertise-address", BindAddress},
			{"secure-port", strconv.Itoa(c.Port)},
			{"tls-cert-file", p.cert(pki.APIServerServing)},
			{"tls-private-key-file", p.key(pki.APIServerServing)},
			{"storage-backend", "etcd3"},
			{"storage-media-type", "application/vnd.kubernetes.protobuf"},
			{"etcd-servers", p.Etcd.ClientURL},
			{"service-cluster-ip-range", serviceCIDR},
			{"feature-gates", featureGates},
			{"external-hostname", "localhost"},
			{"requestheader-username-headers", "X-Remote-User"},
			{"requestheader-group-headers", "X-Remote-Group"},
			{"requestheader-extra-headers-prefix", "X-Remote-Extra-"},
			{"requestheader-client-ca-file", p.cert(pki.RequestHeaderCA)},
			{"requestheader-allowed-names", "system:auth-proxy"},
			{"proxy-client-cert-file", p.cert(pki.AuthProxyClient)},
			{"proxy-client-key-file", p.key(pki.AuthProxyClient)},
			{"cors-allowed-origins", corsOrigins},
		},
	}
}

func (p *Plan) controllerManager(c spec.Component) Component {
	kubeconfig := p.Env.Kubeconfig("controller")
	return Component{
		HealthURL: "https://" + net.JoinHostPort(BindAddress, strconv.Itoa(c.Port)) + "/healthz",
		Flags: []Flag{
			{"v", logLevel},
			{"service-account-private-key-file", p.key(pki.ServiceAccount)},
			{"service-cluster-ip-range", serviceCIDR},
			{"root-ca-file", p.cert(pki.ServerCA)},
			{"cluster-signing-cert-file", p.cert(pki.ClientCA)},
			{"cluster-signing-key-file", p.key(pki.ClientCA)},
			{"enable-hostpath-provisioner", "false"},
			{"pvclaimbinder-sync-period", "15s"},
			{"feature-gates", featureGates},
			{"authentication-kubeconfig", kubeconfig},
			{"authorization-kubeconfig", kubeconfig},
			{"kubeconfig", kubeconfig},
			{"use-service-account-credentials", "true"},
			{"controllers", "*"},
			{"leader-elect", "false"},
			{"tls-cert-file", p.cert(pki.ControllerServing)},
			{"tls-private-key-file", p.key(pki.ControllerServing)},
			{"secure-port", strconv.Itoa(c.Port)},
			{"bind-address", BindAddress},
		},
	}
}

func (p *Plan) scheduler(c spec.Component) Component {
	kubeconfig := p.Env.Kubeconfig("scheduler")
	config := filepath.Join(p.Env.ConfigDir(), "kube-scheduler.yaml")
	p.Files = append(p.Files, File{Path: config, Content: fmt.Sprintf(schedulerConfigYAML, kubeconfig)})
	return Component{
		HealthURL: "https://" + net.JoinHostPort(BindAddress, strconv.Itoa(c.Port)) + "/healthz",
		Flags: []Flag{
			{"v", logLevel},
			{"config", config},
			{"feature-gates", featureGates},
			{"authentication-kubeconfig", kubeconfig},
			{"authorization-kubeconfig", kubeconfig},
			{"tls-cert-file", p.cert(pki.SchedulerServing)},
			{"tls-private-key-file", p.key(pki.SchedulerServing)},
			{"secure-port", strconv.Itoa(c.Port)},
			{"bind-address", BindAddress},
		},
	}
}

// override applies the spec's flags: a value replaces the computed flag of
// that name in place or is appended; nil removes it.
func override(flags []Flag, c spec.Component) []Flag {
	out := make([]Flag, 0, len(flags)+len(c.Flags))
	for _, f := range flags {
		v, set := c.Flags[f.Name]
		switch {
		case !set:
			out = append(out, f)
		case v != nil:
			out = append(out, Flag{f.Name, *v})
		}
	}
	for _, name := range c.SortedFlagNames() {
		if v := c.Flags[name]; v != nil && !has(flags, name) {
			out = append(out, Flag{name, *v})
		}
	}
	return out
}

func has(flags []Flag, name string) bool {
	for _, f := range flags {
		if f.Name == name {
			return true
		}
	}
	return false
}

// firstIP is the first usable address of cidr, the one the kubernetes
// Service gets.
func firstIP(cidr string) (netip.Addr, error) {
	prefix, err := netip.ParsePrefix(cidr)
	if err != nil {
		return netip.Addr{}, fmt.Errorf("service CIDR %q: %w", cidr, err)
	}
	return prefix.Masked().Addr().Next(), nil
}

const auditPolicyYAML = `apiVersion: audit.k8s.io/v1
kind: Policy
rules:
  - level: Metadata
`

const egressSelectorYAML = `apiVersion: apiserver.k8s.io/v1beta1
kind: EgressSelectorConfiguration
egressSelections:
  - name: cluster
    connection:
      proxyProtocol: Direct
  - name: controlplane
    connection:
      proxyProtocol: Direct
  - name: etcd
    connection:
      proxyProtocol: Direct
`

const schedulerConfigYAML = `apiVersion: kubescheduler.config.k8s.io/v1
kind: KubeSchedulerConfiguration
clientConnection:
  kubeconfig: %s
leaderElection:
  leaderElect: false
`
