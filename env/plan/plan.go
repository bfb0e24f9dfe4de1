// Package plan decides everything `kenv up` will do for a spec: the trees
// it builds, the files it writes, the certificates it makes, and each
// component's command line, health check and start stage. Decide looks at
// nothing: what it needs of the machine Survey finds first. The component
// kinds are this package's, one file each, registered in Kinds. The flags
// follow hack/local-up-cluster.sh, bound to loopback.
package plan

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"maps"
	"net"
	"net/netip"
	"net/url"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/kenv-dev/kenv/env/build"
	"github.com/kenv-dev/kenv/env/layout"
	"github.com/kenv-dev/kenv/env/source"
	"github.com/kenv-dev/kenv/env/spec"
	"github.com/kenv-dev/kenv/pki"
)

// Loopback is where etcd and Delve listen, and where kenv reaches a
// component bound to every interface.
const Loopback = "127.0.0.1"

// defaultFeatureGates is local-up-cluster's, where the spec has no say.
const defaultFeatureGates = "AllAlpha=false"

// Plan is what `kenv up` does for one spec.
type Plan struct {
	Name string
	Env  layout.Env
	// Tree is the environment's tree, the one the binaries are built
	// from but for those of Trees.
	Tree
	// Trees are the trees of the components built from a source of their
	// own, by component.
	Trees map[string]*Tree `json:",omitempty"`
	// APIServerURL is where clients reach kube-apiserver.
	APIServerURL string
	Etcd         Etcd
	Certificates []pki.Leaf
	Kubeconfigs  []Kubeconfig
	Files        []File
	Components   []Component
	// Kwok is set when the spec runs simulated nodes.
	Kwok *Kwok `json:",omitempty"`
	// Nodes is set when the spec runs real nodes, and DNS when it runs
	// the cluster's DNS for them.
	Nodes *Nodes `json:",omitempty"`
	DNS   *DNS   `json:",omitempty"`
	// Cluster is set when the spec swaps components of a cluster kenv did
	// not make; the plan then runs nothing else.
	Cluster *Cluster `json:",omitempty"`

	spec   *spec.Spec
	inputs Inputs
	logDir string
	// localHost is where the components are reached on this machine,
	// and localHosts the names the components' serving certificates hold;
	// apiBind is where kube-apiserver listens, and localURL where the
	// components, kenv and the nodes reach it.
	localHost  string
	localHosts []string
	apiBind    string
	localURL   string
}

// A Tree is a Kubernetes tree the plan builds from, with the toolchain
// that builds it, the build and where the binaries go.
type Tree struct {
	// Where is the source as the spec and lock name it; Source the tree
	// got from there.
	Where     source.Location `json:"-"`
	Source    *source.Tree
	Toolchain Toolchain
	// Build builds the binaries into BinDir.
	Build  build.Request
	BinDir string
}

// TreeOf is the tree the component name is built from: its kind's own,
// or the environment's.
func (p *Plan) TreeOf(name string) *Tree {
	if t := p.Trees[KindName(name)]; t != nil {
		return t
	}
	return &p.Tree
}

// AllTrees are the environment's tree, then the components' own.
func (p *Plan) AllTrees() []*Tree {
	trees := []*Tree{&p.Tree}
	for _, name := range slices.Sorted(maps.Keys(p.Trees)) {
		trees = append(trees, p.Trees[name])
	}
	return trees
}

// Etcd is the embedded etcd's configuration.
type Etcd struct {
	ClientURL string
	PeerURL   string
	DataDir   string
	LogPath   string
}

// Kubeconfig is a kubeconfig to write, with the client certificate it
// embeds and the apiserver URL it names.
type Kubeconfig struct {
	Path   string
	Client string
	Server string
}

// File is a configuration file a component reads.
type File struct {
	Path    string
	Content string
}

// Component is one process to run.
type Component struct {
	// Name is the kind's, or "node/kind" for a component of a node.
	Name string
	// Kind is the component's kind, and Node the node it runs on, if it
	// runs on one: in the node's namespaces, not this machine's.
	Kind   string
	Node   string `json:",omitempty"`
	Binary string
	Flags  []Flag
	// Env is added to kenv's own environment.
	Env []string
	// Args follow the flags as the spec gives them.
	Args    []string
	LogPath string
	// Address is host:port of the component's port, in its node for a
	// component of a node; empty for one that listens on no TCP port.
	Address string
	// Also are the other host:ports it listens on.
	Also []string `json:",omitempty"`
	// Endpoint is where clients reach it: an https://, http:// or
	// unix:// URL.
	Endpoint string
	// HealthURL answers 200 once the component is ready.
	HealthURL string
	Debug     *Debug
	// RestartOnFailure restarts the component when it exits with an error.
	RestartOnFailure bool
	// Start is when up starts it.
	Start Start
	// Serves says other components need it serving (kube-apiserver):
	// they start once it accepts connections, and one that exits before
	// it is ready is started again.
	Serves bool `json:",omitempty"`
}

// Start is when up starts a component: as early as it can do its work,
// so that start-ups overlap.
type Start int

const (
	// AtOnce starts it beside etcd: kube-apiserver, which needs etcd only
	// a second into its start, and the node's runtime.
	AtOnce Start = iota
	// WhenServing starts a client of kube-apiserver once kube-apiserver
	// accepts connections, while it bootstraps. One that gives up before
	// kube-apiserver is ready (the controller-manager exits when it cannot
	// read its authentication configuration) is started again at once, up
	// to EarlyExits times.
	WhenServing
	// WhenImages starts the node's components, the kubelet and
	// kube-proxy, once the runtime is ready and holds the images, the
	// pause image among them. kube-proxy is not ready before the kubelet
	// has registered the node.
	WhenImages
)

// EarlyExits bounds the starts again of a client of kube-apiserver that
// exits before kube-apiserver is ready.
const EarlyExits = 10

// String says when, for kenv plan.
func (s Start) String() string {
	switch s {
	case WhenServing:
		return fmt.Sprintf("once kube-apiserver accepts connections; again at once, up to %d times, if it exits before kube-apiserver is ready", EarlyExits)
	case WhenImages:
		return "with the node, once containerd is ready and holds the images"
	default:
		return "beside etcd"
	}
}

// Debug says how Delve runs a component.
type Debug struct {
	Listen string
	// Wait leaves the program stopped at entry for a client to continue.
	Wait bool
	// Pin is the spec's Delve release; empty lets kenv choose.
	Pin string `json:",omitempty"`
	// Dlv is the Delve that runs the component, and Release its version.
	Dlv     string
	Release string
	// Install says up installs Release at Dlv when it is not there yet;
	// a dlv on PATH is run as it is.
	Install bool `json:",omitempty"`
	// Args are the spec's dlv_args, after kenv's own options.
	Args        []string
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

// CommandArgs renders the flags, then the spec's args, as command-line
// arguments.
func (c Component) CommandArgs() []string {
	args := make([]string, 0, len(c.Flags)+len(c.Args))
	for _, f := range c.Flags {
		args = append(args, "--"+f.Name+"="+f.Value)
	}
	return append(args, c.Args...)
}

// Command is the full command line that runs the component: the binary
// itself, or Delve running it when the component is debugged.
func (c Component) Command() []string {
	return c.command(c.Debug != nil && c.Debug.Continue())
}

// CommandContinuing is the command line as a person runs it by hand:
// Delve, if any, continues the program at once, breakpoints or not.
func (c Component) CommandContinuing() []string { return c.command(true) }

func (c Component) command(continueAtOnce bool) []string {
	if c.Debug == nil {
		return append([]string{c.Binary}, c.CommandArgs()...)
	}
	argv := []string{c.Debug.Dlv, "exec", "--headless", "--api-version=2", "--accept-multiclient",
		"--listen=" + c.Debug.Listen}
	if continueAtOnce {
		argv = append(argv, "--continue")
	}
	argv = append(argv, c.Debug.Args...)
	argv = append(argv, c.Binary, "--")
	return append(argv, c.CommandArgs()...)
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

// New computes the plan of in.Spec, whose binaries live in binDir, and the
// programs kenv installs from their modules in in.Cache, at the releases
// the spec or in.Lock name. in.Tree is not needed.
func New(in Inputs, binDir string) (*Plan, error) {
	s, env := in.Spec, in.Env
	if swaps(s) {
		p := &Plan{Name: s.Name, Env: env, spec: s, inputs: in, logDir: env.LogDir()}
		p.cluster(binDir)
		return p, nil
	}
	firstServiceIP, err := firstIP(s.Network.ServiceCIDR)
	if err != nil {
		return nil, err
	}
	api := s.Component(apiServerName)
	if api == nil {
		return nil, fmt.Errorf("spec %s has no kube-apiserver", s.File)
	}
	nw := s.Network
	dataDir, logDir := env.EtcdDir(), env.LogDir()
	if s.Etcd.DataDir != "" {
		dataDir = s.Etcd.DataDir
	}
	if s.Log.Dir != "" {
		logDir = s.Log.Dir
	}
	// The components and kenv's own checks reach the apiserver where it
	// listens: where the spec binds it, or with real nodes the machine's
	// address on their bridge, where the nodes reach it too. api_host is
	// for the people and tools that use the admin kubeconfig, and may be a
	// name only they resolve.
	localHost := nw.BindAddress
	if netip.MustParseAddr(localHost).IsUnspecified() {
		localHost = Loopback
	}
	apiBind, apiLocal := nw.BindAddress, localHost
	if len(s.Nodes) > 0 {
		apiLocal = nw.BridgeAddress().Addr().String()
		if !netip.MustParseAddr(apiBind).IsUnspecified() {
			apiBind = apiLocal
		}
	}
	localURL := "https://" + hostPort(apiLocal, api.Port)
	apiURL := "https://" + hostPort(nw.APIHost, api.Port)
	p := &Plan{
		Name:         s.Name,
		Env:          env,
		APIServerURL: apiURL,
		Etcd: Etcd{
			ClientURL: "http://" + hostPort(Loopback, s.Etcd.Port),
			PeerURL:   "http://" + hostPort(Loopback, s.Etcd.PeerPort),
			DataDir:   dataDir,
			LogPath:   filepath.Join(logDir, "etcd.log"),
		},
		Kubeconfigs: []Kubeconfig{
			{Path: env.Kubeconfig("admin"), Client: pki.AdminClient, Server: apiURL},
		},
		spec:      s,
		inputs:    in,
		logDir:    logDir,
		localHost: localHost,
		apiBind:   apiBind,
		localURL:  localURL,
		// Where the components are reached on this machine must be in
		// their serving certificates.
		localHosts: appendNew([]string{"localhost", Loopback}, localHost),
	}
	apiHosts := appendNew(p.localHosts, apiLocal, nw.APIHost, firstServiceIP.String(),
		"kubernetes", "kubernetes.default", "kubernetes.default.svc",
		"kubernetes.default.svc.cluster", "kubernetes.default.svc.cluster.local")
	p.Certificates = pki.ControlPlaneLeaves(apiHosts)

	for _, c := range s.Components {
		k, ok := KindOf(c.Name)
		if !ok {
			return nil, fmt.Errorf("kenv cannot run %s yet", c.Name)
		}
		if !k.OnNode {
			p.add(k, c, nil, binDir)
		}
	}
	p.nodes()
	for i, sn := range s.Nodes {
		n := p.Nodes.Node(sn.Name)
		for _, c := range nodeKinds(s, i) {
			k, _ := KindOf(c.Name)
			p.add(k, c, n, binDir)
		}
	}
	return p, nil
}

// add plans the component c of kind k, on node n if it runs on one, with
// what every component has: its binary, log, address, environment, Delve,
// the spec's flags and when it starts.
func (p *Plan) add(k *Kind, c spec.Component, n *Node, binDir string) {
	comp := k.plan(p, c, n)
	comp.Name, comp.Kind = c.Name, c.Name
	host := p.spec.Network.BindAddress
	if n != nil {
		comp.Name, comp.Node = ComponentName(n.Name, c.Name), n.Name
		host = n.Addr.Addr().String()
	}
	if k.Origin == spec.FromTree {
		comp.Binary = filepath.Join(binDir, c.Name)
	}
	comp.LogPath = p.Log(comp.Name)
	if c.Port != 0 && comp.Address == "" {
		comp.Address = hostPort(host, c.Port)
	}
	if comp.Endpoint == "" && comp.Address != "" {
		comp.Endpoint = "https://" + comp.Address
	}
	if !k.Implied {
		comp.Env = []string{"KUBE_CACHE_MUTATION_DETECTOR=false", "KUBE_PANIC_WATCH_DECODE_ERROR=true"}
	}
	for _, name := range slices.Sorted(maps.Keys(c.Env)) {
		comp.Env = append(comp.Env, name+"="+c.Env[name])
	}
	if c.Debug != nil {
		comp.Debug = &Debug{Listen: c.Debug.Listen, Wait: c.Debug.Wait, Pin: c.Debug.Dlv, Args: c.Debug.DlvArgs, Breakpoints: c.Debug.Breakpoints}
	}
	if !k.Implied {
		comp.Flags = override(slices.Concat(p.logFlags(k, c), comp.Flags, emulationFlags(c.Emulation)), c)
	}
	comp.Args = c.Args
	comp.RestartOnFailure = c.Restart == spec.RestartOnFailure
	comp.Start = startOf(k)
	comp.Serves = serves(c.Name)
	p.Components = append(p.Components, comp)
}

// A Port is a TCP address the environment listens on: whose it is, and
// what in the spec sets it.
type Port struct {
	Address string
	Of      string
	SetBy   string
}

// Ports are every address the environment listens on: etcd's, each
// component's and each Delve's. up checks that they are free before it
// starts anything, and a restart waits for a component's.
func (p *Plan) Ports() []Port {
	var ports []Port
	if p.Etcd.ClientURL != "" {
		ports = append(ports, Port{urlHost(p.Etcd.ClientURL), "etcd", "etcd { port }"},
			Port{urlHost(p.Etcd.PeerURL), "etcd's peer listener", "etcd { peer_port }"})
	}
	for _, c := range p.Components {
		ports = append(ports, c.Ports()...)
	}
	return ports
}

// Ports are the addresses c listens on on this machine: its port, the
// others it has, and its Delve's; of a component of a node, only its
// Delve's, which kenv forwards from this machine's loopback.
func (c Component) Ports() []Port {
	var ports []Port
	if c.Address != "" && c.Node == "" {
		ports = append(ports, Port{c.Address, c.Name, fmt.Sprintf("component %q { port }", c.Name)})
	}
	for _, addr := range c.Also {
		ports = append(ports, Port{addr, c.Name, fmt.Sprintf("component %q { flags } (kenv's default for it is fixed)", c.Name)})
	}
	if c.Debug != nil {
		ports = append(ports, Port{c.Debug.Listen, c.Name + "'s Delve", fmt.Sprintf("component %q { debug { port } }", c.Name)})
	}
	return ports
}

// SpecFile is the spec the plan was decided from.
func (p *Plan) SpecFile() string { return p.spec.File }

// Serving is the component others need serving before they start
// (kube-apiserver), if the plan runs it.
func (p *Plan) Serving() (Component, bool) {
	for _, c := range p.Components {
		if c.Serves {
			return c, true
		}
	}
	return Component{}, false
}

func urlHost(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return raw
	}
	return u.Host
}

// apiClient adds the kubeconfig called name, with which a component
// reaches kube-apiserver as user, in groups, through the client
// certificate client, and returns its path.
func (p *Plan) apiClient(name, client, user string, groups ...string) string {
	path := p.Env.Kubeconfig(name)
	p.Kubeconfigs = append(p.Kubeconfigs, Kubeconfig{Path: path, Client: client, Server: p.localURL})
	p.Certificates = append(p.Certificates, pki.ClientLeaf(client, user, groups...))
	return path
}

// hasKubeconfig reports whether the plan writes the kubeconfig at path.
func (p *Plan) hasKubeconfig(path string) bool {
	return slices.ContainsFunc(p.Kubeconfigs, func(k Kubeconfig) bool { return k.Path == path })
}

// Build is the build of everything s asks for from tree into binDir: its
// components and extra binaries.
func Build(s *spec.Spec, tree *source.Tree, binDir string) build.Request {
	b := s.Build
	return build.Request{Tree: tree, Components: append(s.TreeComponents(), b.Binaries...), OutDir: binDir,
		Unoptimized: b.Unoptimized, Tags: b.Tags, GCFlags: b.GCFlags, LDFlags: b.LDFlags, Optimize: b.Optimize}
}

// BinDir is where the binaries s asks for from tree are built. Builds with
// other settings get a directory of their own, so that environments built
// differently from one source can run side by side.
func BinDir(cache layout.Cache, s *spec.Spec, tree *source.Tree) string {
	b := s.Build
	variant := "debug"
	if !b.Unoptimized || len(b.Tags)+len(b.GCFlags)+len(b.LDFlags) > 0 || !slices.Equal(b.Optimize, spec.DefaultOptimize) {
		sum := sha256.Sum256([]byte(fmt.Sprintf("%t %q %q %q %q", b.Unoptimized, b.Tags, b.GCFlags, b.LDFlags, b.Optimize)))
		variant = "custom-" + hex.EncodeToString(sum[:4])
	}
	return cache.BinDir(filepath.Join(tree.Key, variant))
}

// Log is the path of the named log: a component's, etcd's or kenv's.
func (p *Plan) Log(name string) string { return filepath.Join(p.logDir, name+".log") }

// logFlags are the verbosity flags of c, of kind k: klog's, unless the
// kind logs otherwise.
func (p *Plan) logFlags(k *Kind, c spec.Component) []Flag {
	v := p.spec.Log.Verbosity
	if c.Verbosity != nil {
		v = *c.Verbosity
	}
	if k.logLevel != nil {
		if level := k.logLevel(v); level != "" {
			return []Flag{{"v", level}}
		}
		return nil
	}
	flags := []Flag{{"v", strconv.Itoa(v)}}
	if len(c.VModule) > 0 {
		var patterns []string
		for _, pattern := range slices.Sorted(maps.Keys(c.VModule)) {
			patterns = append(patterns, fmt.Sprintf("%s=%d", pattern, c.VModule[pattern]))
		}
		flags = append(flags, Flag{"vmodule", strings.Join(patterns, ",")})
	}
	return flags
}

// featureGates renders the spec's gates, or local-up-cluster's default.
func (p *Plan) featureGates() string {
	if p.spec.FeatureGates == nil {
		return defaultFeatureGates
	}
	var gates []string
	for _, name := range slices.Sorted(maps.Keys(p.spec.FeatureGates)) {
		gates = append(gates, fmt.Sprintf("%s=%t", name, p.spec.FeatureGates[name]))
	}
	return strings.Join(gates, ",")
}

// healthURL is where kenv checks a component bound to the spec's address.
func (p *Plan) healthURL(port int, path string) string {
	return "https://" + hostPort(p.localHost, port) + path
}

func hostPort(host string, port int) string { return net.JoinHostPort(host, strconv.Itoa(port)) }

// appendNew appends the values not in list yet.
func appendNew(list []string, values ...string) []string {
	list = slices.Clone(list)
	for _, v := range values {
		if !slices.Contains(list, v) {
			list = append(list, v)
		}
	}
	return list
}

func (p *Plan) cert(name string) string { return pki.CertPath(p.Env.CertDir(), name) }
func (p *Plan) key(name string) string  { return pki.KeyPath(p.Env.CertDir(), name) }

// emulationFlags run a component as the release e says, for Kubernetes'
// own components ("kube=").
func emulationFlags(e spec.Emulation) []Flag {
	var flags []Flag
	if e.Version != "" {
		flags = append(flags, Flag{"emulated-version", "kube=" + e.Version})
	}
	if e.MinCompatibility != "" {
		flags = append(flags, Flag{"min-compatibility-version", "kube=" + e.MinCompatibility})
	}
	return flags
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
