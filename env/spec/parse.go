package spec

import (
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/gohcl"
	"github.com/hashicorp/hcl/v2/hclparse"
	"github.com/zclconf/go-cty/cty"

	"github.com/kenv-dev/kenv/env/source"
)

// The file's schema as gohcl decodes it, once the locals are known. A field
// such as Port *int is nil when the spec leaves the attribute out, sets it to
// null, or its value failed to decode (which is reported). Where a later
// check needs to point at an attribute, PortAt holds the range of its value
// (attr_value_range) and PortRange that of the whole attribute (attr_range).
// Attributes kenv decodes itself, item by item, stay *hcl.Attribute.
type fileSchema struct {
	Name               *string           `hcl:"name,optional"`
	NameAt             hcl.Range         `hcl:"name,attr_value_range"`
	FeatureGates       *hcl.Attribute    `hcl:"feature_gates,optional"`
	AuthorizationModes *hcl.Attribute    `hcl:"authorization_modes,optional"`
	Locals             []localsSchema    `hcl:"locals,block"` // read first, by evalContext
	Kubernetes         *kubernetesSchema `hcl:"kubernetes,block"`
	Build              *buildSchema      `hcl:"build,block"`
	Network            *networkSchema    `hcl:"network,block"`
	Etcd               *etcdSchema       `hcl:"etcd,block"`
	Log                *logSchema        `hcl:"log,block"`
	Admission          *admissionSchema  `hcl:"admission,block"`
	Audit              *auditSchema      `hcl:"audit,block"`
	Components         []componentSchema `hcl:"component,block"`
	Nodes              []nodeSchema      `hcl:"node,block"`
	Cluster            *clusterSchema    `hcl:"cluster,block"`
}

type localsSchema struct {
	Body hcl.Body `hcl:",remain"`
}

// The kubernetes and build blocks keep their body: where the spec sets each
// of their attributes is recorded in Spec.Ranges.
type kubernetesSchema struct {
	Version   *string   `hcl:"version,optional"`
	VersionAt hcl.Range `hcl:"version,attr_value_range"`
	Path      *string   `hcl:"path,optional"`
	PathAt    hcl.Range `hcl:"path,attr_value_range"`
	Git       *string   `hcl:"git,optional"`
	GitAt     hcl.Range `hcl:"git,attr_value_range"`
	Ref       *string   `hcl:"ref,optional"`
	RefAt     hcl.Range `hcl:"ref,attr_value_range"`
	Go        *string   `hcl:"go,optional"`
	GoAt      hcl.Range `hcl:"go,attr_value_range"`
	// The environment's emulation (spec.Emulation); not a component's
	// own source's.
	EmulatedVersion           *string   `hcl:"emulated_version,optional"`
	EmulatedVersionAt         hcl.Range `hcl:"emulated_version,attr_value_range"`
	MinCompatibilityVersion   *string   `hcl:"min_compatibility_version,optional"`
	MinCompatibilityVersionAt hcl.Range `hcl:"min_compatibility_version,attr_value_range"`
	Body                      hcl.Body  `hcl:",body"`
	DefRange                  hcl.Range `hcl:",def_range"`
}

type buildSchema struct {
	Debug    *bool          `hcl:"debug,optional"`
	Tags     *hcl.Attribute `hcl:"tags,optional"`
	GCFlags  []string       `hcl:"gcflags,optional"`
	LDFlags  []string       `hcl:"ldflags,optional"`
	Optimize *hcl.Attribute `hcl:"optimize,optional"`
	Binaries *hcl.Attribute `hcl:"binaries,optional"`
	Body     hcl.Body       `hcl:",body"`
	DefRange hcl.Range      `hcl:",def_range"`
}

type networkSchema struct {
	BindAddress   *string   `hcl:"bind_address,optional"`
	BindAddressAt hcl.Range `hcl:"bind_address,attr_value_range"`
	APIHost       *string   `hcl:"api_host,optional"`
	APIHostAt     hcl.Range `hcl:"api_host,attr_value_range"`
	ServiceCIDR   *string   `hcl:"service_cidr,optional"`
	ServiceCIDRAt hcl.Range `hcl:"service_cidr,attr_value_range"`
	PodCIDR       *string   `hcl:"pod_cidr,optional"`
	PodCIDRAt     hcl.Range `hcl:"pod_cidr,attr_value_range"`
	NodeCIDR      *string   `hcl:"node_cidr,optional"`
	NodeCIDRAt    hcl.Range `hcl:"node_cidr,attr_value_range"`
	Body          hcl.Body  `hcl:",body"`
	DefRange      hcl.Range `hcl:",def_range"`
}

type etcdSchema struct {
	Port          *int      `hcl:"port,optional"`
	PortAt        hcl.Range `hcl:"port,attr_value_range"`
	PortRange     hcl.Range `hcl:"port,attr_range"`
	PeerPort      *int      `hcl:"peer_port,optional"`
	PeerPortAt    hcl.Range `hcl:"peer_port,attr_value_range"`
	PeerPortRange hcl.Range `hcl:"peer_port,attr_range"`
	DataDir       *string   `hcl:"data_dir,optional"`
}

type logSchema struct {
	Verbosity   *int      `hcl:"verbosity,optional"`
	VerbosityAt hcl.Range `hcl:"verbosity,attr_value_range"`
	Dir         *string   `hcl:"dir,optional"`
}

type admissionSchema struct {
	Enable  *hcl.Attribute `hcl:"enable,optional"`
	Disable *hcl.Attribute `hcl:"disable,optional"`
}

type auditSchema struct {
	Policy          *hcl.Attribute `hcl:"policy,optional"`
	PolicyFile      *string        `hcl:"policy_file,optional"`
	PolicyFileAt    hcl.Range      `hcl:"policy_file,attr_value_range"`
	PolicyFileRange hcl.Range      `hcl:"policy_file,attr_range"`
}

type componentSchema struct {
	Name                         string            `hcl:"name,label"`
	Enabled                      *bool             `hcl:"enabled,optional"`
	EnabledRange                 hcl.Range         `hcl:"enabled,attr_range"`
	Port                         *int              `hcl:"port,optional"`
	PortAt                       hcl.Range         `hcl:"port,attr_value_range"`
	PortRange                    hcl.Range         `hcl:"port,attr_range"`
	Debug                        *debugSchema      `hcl:"debug,block"`
	Flags                        *hcl.Attribute    `hcl:"flags,optional"`
	Args                         []string          `hcl:"args,optional"`
	Env                          map[string]string `hcl:"env,optional"`
	Verbosity                    *int              `hcl:"verbosity,optional"`
	VerbosityAt                  hcl.Range         `hcl:"verbosity,attr_value_range"`
	VModule                      *hcl.Attribute    `hcl:"vmodule,optional"`
	Restart                      *string           `hcl:"restart,optional"`
	RestartAt                    hcl.Range         `hcl:"restart,attr_value_range"`
	Nodes                        *int              `hcl:"nodes,optional"`
	NodesAt                      hcl.Range         `hcl:"nodes,attr_value_range"`
	NodesRange                   hcl.Range         `hcl:"nodes,attr_range"`
	Version                      *string           `hcl:"version,optional"`
	VersionAt                    hcl.Range         `hcl:"version,attr_value_range"`
	VersionRange                 hcl.Range         `hcl:"version,attr_range"`
	Images                       *hcl.Attribute    `hcl:"images,optional"`
	Kubernetes                   *kubernetesSchema `hcl:"kubernetes,block"`
	Node                         *string           `hcl:"node,optional"`
	NodeAt                       hcl.Range         `hcl:"node,attr_value_range"`
	EmulatedVersion              *string           `hcl:"emulated_version,optional"`
	EmulatedVersionAt            hcl.Range         `hcl:"emulated_version,attr_value_range"`
	EmulatedVersionRange         hcl.Range         `hcl:"emulated_version,attr_range"`
	MinCompatibilityVersion      *string           `hcl:"min_compatibility_version,optional"`
	MinCompatibilityVersionAt    hcl.Range         `hcl:"min_compatibility_version,attr_value_range"`
	MinCompatibilityVersionRange hcl.Range         `hcl:"min_compatibility_version,attr_range"`
	DefRange                     hcl.Range         `hcl:",def_range"`
}

type debugSchema struct {
	Port        *int               `hcl:"port,optional"`
	PortAt      hcl.Range          `hcl:"port,attr_value_range"`
	PortRange   hcl.Range          `hcl:"port,attr_range"`
	Listen      *string            `hcl:"listen,optional"`
	ListenAt    hcl.Range          `hcl:"listen,attr_value_range"`
	ListenRange hcl.Range          `hcl:"listen,attr_range"`
	Wait        *bool              `hcl:"wait,optional"`
	Dlv         *string            `hcl:"dlv,optional"`
	DlvAt       hcl.Range          `hcl:"dlv,attr_value_range"`
	DlvRange    hcl.Range          `hcl:"dlv,attr_range"`
	DlvArgs     *hcl.Attribute     `hcl:"dlv_args,optional"`
	Breakpoints *hcl.Attribute     `hcl:"breakpoints,optional"`
	Breakpoint  []breakpointSchema `hcl:"breakpoint,block"`
}

type breakpointSchema struct {
	Location  string    `hcl:"location,label"`
	Condition *string   `hcl:"condition,optional"`
	Trace     *bool     `hcl:"trace,optional"`
	DefRange  hcl.Range `hcl:",def_range"`
}

// maxNodes bounds the simulated nodes: each is an object kwok updates
// every few seconds.
const maxNodes = 10000

// ownDlvFlags are the dlv exec options kenv sets; dlv_args may not change
// them.
var ownDlvFlags = []string{"--headless", "--api-version", "--accept-multiclient", "--listen", "-l", "--continue"}

const (
	defaultEtcdPort = 2379
)

var (
	nameRE    = regexp.MustCompile(`^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`)
	versionRE = regexp.MustCompile(`^v(\d+)\.(\d+)\.(\d+)(-[0-9A-Za-z.-]+)?$`)
	// goVersionRE matches Go releases as GOTOOLCHAIN names them after "go".
	goVersionRE = regexp.MustCompile(`^1\.\d+(\.\d+|rc\d+)$`)
	// commandRE matches a command directory under cmd/.
	commandRE = regexp.MustCompile(`^[a-z0-9][-a-z0-9]*$`)
)

// ParseFile reads, defaults and checks the spec at path. The returned
// diagnostics hold every problem found; the spec is nil when any of them is
// an error. The parser is returned so callers can render diagnostics with
// the source lines they point at.
func ParseFile(path string, kinds Kinds) (*Spec, *hclparse.Parser, hcl.Diagnostics) {
	parser := hclparse.NewParser()
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, parser, hcl.Diagnostics{{Severity: hcl.DiagError, Summary: "Cannot read spec", Detail: err.Error()}}
	}
	src, err := os.ReadFile(abs)
	if err != nil {
		return nil, parser, hcl.Diagnostics{{
			Severity: hcl.DiagError,
			Summary:  "Cannot read spec",
			Detail:   fmt.Sprintf("%v. Pass the path of an environment spec such as examples/debug.hcl.", err),
		}}
	}
	s, diags := parse(parser, src, abs, kinds)
	return s, parser, diags
}

// Parse parses src as the spec file named filename, whose components are
// of kinds.
func Parse(src []byte, filename string, kinds Kinds) (*Spec, hcl.Diagnostics) {
	return parse(hclparse.NewParser(), src, filename, kinds)
}

func parse(parser *hclparse.Parser, src []byte, filename string, kinds Kinds) (*Spec, hcl.Diagnostics) {
	file, diags := parser.ParseHCL(src, filename)
	if diags.HasErrors() {
		return nil, diags
	}
	d := decoder{specDir: filepath.Dir(filename), ranges: map[string]hcl.Range{}, kinds: kinds}
	d.ctx = d.evalContext(file.Body)
	// gohcl decodes all it can beside a schema error (an unknown attribute,
	// say) or a value of the wrong type: the rest of the file is checked
	// too, so that one run reports every problem. It visits attributes in
	// map order; its diagnostics are sorted as the file reads.
	var raw fileSchema
	decodeDiags := gohcl.DecodeBody(knownBody{file.Body}, d.ctx, &raw)
	slices.SortStableFunc(decodeDiags, func(a, b *hcl.Diagnostic) int { return offset(a) - offset(b) })
	d.diags = append(d.diags, decodeDiags...)
	s := d.spec(&raw, filename, file.Body)
	if d.diags.HasErrors() {
		return nil, d.diags
	}
	return s, d.diags
}

func offset(diag *hcl.Diagnostic) int {
	if diag.Subject == nil {
		return 0
	}
	return diag.Subject.Start.Byte
}

// decoder collects diagnostics while it turns the raw schema into a Spec, so
// that one run reports every problem.
type decoder struct {
	diags hcl.Diagnostics
	// ctx holds the locals and functions expressions can use.
	ctx     *hcl.EvalContext
	specDir string
	ranges  map[string]hcl.Range
	kinds   Kinds
	// swapping says the spec swaps components of a cluster kenv did not
	// make (a cluster block).
	swapping bool
	// emulation is the kubernetes block's, which the components that
	// emulate a release start from.
	emulation Emulation
}

func (d *decoder) errorf(subject hcl.Range, summary, format string, args ...any) {
	d.diags = append(d.diags, &hcl.Diagnostic{
		Severity: hcl.DiagError,
		Summary:  summary,
		Detail:   fmt.Sprintf(format, args...),
		Subject:  subject.Ptr(),
	})
}

func (d *decoder) warnf(subject hcl.Range, summary, format string, args ...any) {
	d.diags = append(d.diags, &hcl.Diagnostic{
		Severity: hcl.DiagWarning,
		Summary:  summary,
		Detail:   fmt.Sprintf(format, args...),
		Subject:  subject.Ptr(),
	})
}

// note records where the block named prefix is and where it sets each of
// its attributes, for messages about them later.
func (d *decoder) note(prefix string, block hcl.Range, body hcl.Body) {
	d.ranges[prefix] = block
	attrs, _ := body.JustAttributes() // the block's errors are gohcl's to report
	for name, attr := range attrs {
		d.ranges[prefix+"."+name] = attr.Range
	}
}

// or returns *v, or def when the spec leaves v unset.
func or[T any](v *T, def T) T {
	if v == nil {
		return def
	}
	return *v
}

func (d *decoder) spec(raw *fileSchema, filename string, body hcl.Body) *Spec {
	s := &Spec{File: filename, Name: or(raw.Name, defaultName(filename)), Ranges: d.ranges}
	if raw.Name != nil {
		d.ranges["name"] = raw.NameAt
	}
	switch {
	case nameRE.MatchString(s.Name):
	case raw.Name != nil:
		d.errorf(raw.NameAt, "Invalid environment name",
			"%q is not a valid name: use lower-case letters, digits and dashes, such as \"debug\".", s.Name)
	default:
		d.errorf(body.MissingItemRange(), "Invalid environment name",
			"The file name %q does not make a valid environment name; set name = \"...\" with lower-case letters, digits and dashes.", s.Name)
	}

	d.swapping = raw.Cluster != nil
	switch {
	case raw.Kubernetes == nil && d.swapping:
		// The cluster's own version, which up reads from it.
	case raw.Kubernetes == nil:
		d.errorf(body.MissingItemRange(), "Missing kubernetes block",
			"The spec must say which Kubernetes to build, for example:\n  kubernetes {\n    version = \"v1.34.4\"\n  }")
	default:
		s.Kubernetes = d.kubernetes(raw.Kubernetes, "kubernetes")
		d.emulation = d.decodeEmulation(emulationSchema{raw.Kubernetes.EmulatedVersion, raw.Kubernetes.MinCompatibilityVersion,
			raw.Kubernetes.EmulatedVersionAt, raw.Kubernetes.MinCompatibilityVersionAt}, "kubernetes", Emulation{})
	}
	s.Build = d.build(raw.Build)
	s.Network = d.network(raw.Network)
	s.Etcd = d.etcd(raw.Etcd)
	s.Log = d.log(raw.Log)
	s.FeatureGates = d.featureGates(raw.FeatureGates)
	s.AuthorizationModes = d.authorizationModes(raw.AuthorizationModes)
	s.Admission = d.admission(raw.Admission)
	s.Audit = d.audit(raw.Audit)
	s.Kinds = d.kinds

	seen := map[string]hcl.Range{}
	for i := range raw.Components {
		rc := &raw.Components[i]
		if prev, dup := seen[rc.Name]; dup {
			d.errorf(rc.DefRange, "Duplicate component", "Component %q is already defined at %s. Merge the two blocks.", rc.Name, prev)
			continue
		}
		seen[rc.Name] = rc.DefRange
		c, ok := d.component(rc)
		switch {
		case !ok:
		case !or(rc.Enabled, true):
			if k, _ := d.kinds.Find(rc.Name); k.Required {
				d.errorf(rc.EnabledRange, rc.Name+" cannot be disabled",
					"Every environment runs %s; remove enabled = false.", rc.Name)
			}
		default:
			d.ranges["component."+rc.Name] = rc.DefRange
			s.Components = append(s.Components, c)
		}
	}
	for _, k := range d.kinds {
		if len(raw.Components) > 0 && k.Required && !d.swapping && seen[k.Name] == (hcl.Range{}) {
			d.errorf(body.MissingItemRange(), "Missing "+k.Name,
				"Every environment runs %s; add component %q {}.", k.Name, k.Name)
		}
	}
	if len(raw.Components) == 0 {
		d.errorf(body.MissingItemRange(), "No components",
			"List the components to run, at least component \"kube-apiserver\" {}.")
	}
	for _, b := range s.Build.Binaries {
		if s.Component(b) != nil {
			d.errorf(d.ranges["build.binaries"], "Binary listed twice",
				"%s is a component of the spec and built as one; take it out of build.binaries.", b)
		}
	}
	if d.swapping {
		d.cluster(raw, s)
		d.checkPorts(raw, s)
		return s
	}
	s.Nodes = d.nodes(raw, s, body)
	if len(s.Nodes) > 0 && (raw.Network == nil || raw.Network.APIHost == nil) {
		// The nodes reach kube-apiserver on the bridge, and so do its
		// other clients.
		s.Network.APIHost = s.Network.BridgeAddress().Addr().String()
	}
	d.checkPorts(raw, s)
	d.checkSkew(s)
	d.checkEmulation(s)
	return s
}

// kubernetes decodes a source block: the environment's, at prefix
// "kubernetes", or a component's own, at "component.NAME.kubernetes".
func (d *decoder) kubernetes(raw *kubernetesSchema, prefix string) Kubernetes {
	d.note(prefix, raw.DefRange, raw.Body)
	k := Kubernetes{Version: or(raw.Version, ""), Git: or(raw.Git, ""), Ref: or(raw.Ref, ""), Path: or(raw.Path, ""), Go: or(raw.Go, "")}
	if prefix != "kubernetes" {
		for _, at := range []*hcl.Range{d.ranges[prefix+"."+EmulatedVersion].Ptr(), d.ranges[prefix+"."+MinCompatibilityVersion].Ptr()} {
			if *at != (hcl.Range{}) {
				d.errorf(*at, "Not a source's", "A component's emulated version is its own: set it on the component, beside this kubernetes block.")
			}
		}
	}
	if raw.Go != nil && !goVersionRE.MatchString(k.Go) {
		d.errorf(raw.GoAt, "Invalid Go version", "%q is not a Go release; write it like \"1.24.12\" (without \"go\").", k.Go)
	}
	set := func(name string) bool { _, ok := d.ranges[prefix+"."+name]; return ok }
	var sources []string
	for _, name := range []string{"version", "git", "path"} {
		if set(name) {
			sources = append(sources, name)
		}
	}
	switch {
	case len(sources) == 0:
		d.errorf(raw.DefRange, "Missing Kubernetes source",
			"Set one of version = \"v1.34.4\" (a release from the Go module proxy), git = \"<url or path>\" with ref = \"<tag, branch or commit>\", or path = \"../kubernetes\" (a local checkout).")
		return k
	case len(sources) > 1:
		d.errorf(d.ranges[prefix+"."+sources[1]], "More than one Kubernetes source",
			"Set one of version, git and path; %s is set at %s.", sources[0], d.ranges[prefix+"."+sources[0]])
		return k
	}
	if set("ref") && !set("git") {
		d.errorf(d.ranges[prefix+".ref"], "ref without git", "ref names a tag, branch or commit of the git repository that git = \"...\" names.")
	}
	switch {
	case set("git"):
		if !set("ref") {
			d.errorf(d.ranges[prefix+".git"], "Missing ref", "Say which tag, branch or commit of %s to build: ref = \"v1.34.4\".", k.Git)
			return k
		}
		if strings.TrimSpace(k.Git) == "" {
			d.errorf(raw.GitAt, "Empty git repository", "Name a repository by URL, such as \"https://github.com/kubernetes/kubernetes.git\", or by path.")
		}
		if strings.TrimSpace(k.Ref) == "" {
			d.errorf(raw.RefAt, "Empty ref", "Name a tag, branch or commit, such as \"v1.34.4\".")
		}
		// A local repository is named relative to the spec, like path.
		if k.Git != "" && !isRemote(k.Git) && !filepath.IsAbs(k.Git) {
			k.Git = filepath.Join(d.specDir, k.Git)
		}
	case set("path"):
		if !filepath.IsAbs(k.Path) {
			k.Path = filepath.Join(d.specDir, k.Path)
		}
		if err := source.IsCheckout(k.Path); err != nil {
			d.errorf(raw.PathAt, "Not a Kubernetes checkout", "%v. Point path at the root of a Kubernetes git checkout.", err)
		}
	default:
		if !versionRE.MatchString(k.Version) {
			d.errorf(raw.VersionAt, "Invalid Kubernetes version", "%q is not a Kubernetes release version; write it like \"v1.34.4\".", k.Version)
		}
	}
	return k
}

func (d *decoder) component(raw *componentSchema) (Component, bool) {
	kind, known := d.kinds.Find(raw.Name)
	if !known {
		detail := fmt.Sprintf("kenv runs %s.", strings.Join(d.kinds.Names(), ", "))
		if guess := nearest(raw.Name, d.kinds.Names()); guess != "" {
			detail = fmt.Sprintf("Did you mean %q? %s", guess, detail)
		}
		d.errorf(raw.DefRange, "Unknown component", "%s", detail)
		return Component{}, false
	}
	c := Component{Name: raw.Name, Args: raw.Args, Env: raw.Env, Restart: or(raw.Restart, RestartNever), DeclRange: raw.DefRange}
	c.Port = d.port(raw.Port, raw.PortAt, kind.Port)
	if raw.Node != nil && !d.swapping {
		d.errorf(raw.NodeAt, "node without a cluster", "node = names the node of a cluster block (a cluster kenv did not make) that runs %s. For nodes of kenv's own, write node \"name\" { component %q {} }.", raw.Name, raw.Name)
	}
	if raw.Debug != nil {
		if raw.Debug.Dlv != nil {
			d.ranges["component."+raw.Name+".debug.dlv"] = raw.Debug.DlvRange
		}
		c.Debug = d.debug(raw.Debug, kind.DebugPort)
	}
	c.Flags = d.flags(raw.Flags)
	c.Verbosity = d.verbosity(raw.Verbosity, raw.VerbosityAt)
	c.VModule = d.vmodule(raw.VModule)
	if c.Restart != RestartNever && c.Restart != RestartOnFailure {
		d.errorf(raw.RestartAt, "Invalid restart policy", "restart is %q or %q, not %q.", RestartNever, RestartOnFailure, c.Restart)
	}
	d.simulated(raw, kind, &c)
	d.images(raw, kind, &c)
	d.componentEmulation(raw, kind, &c)
	if raw.Kubernetes != nil {
		d.ownSource(raw, kind, &c)
	}
	return c, true
}

// images decodes the kubelet's image tarballs, relative to the spec.
func (d *decoder) images(raw *componentSchema, kind Kind, c *Component) {
	if raw.Images == nil {
		return
	}
	if !slices.Contains(kind.Takes, "images") {
		d.unsupported(raw.Images.Range, "images")
		return
	}
	paths, ranges := d.list(raw.Images)
	for i, p := range paths {
		p = d.path(&p)
		if info, err := os.Stat(p); err != nil || info.IsDir() && !isOCILayout(p) {
			d.errorf(ranges[i], "Image not found", "%s is not an image tarball (docker save, or an OCI layout); build or save the image there, or fix the path.", p)
			continue
		}
		c.Images = append(c.Images, p)
	}
}

// isOCILayout reports whether dir is an OCI image layout.
func isOCILayout(dir string) bool {
	_, err := os.Stat(filepath.Join(dir, "oci-layout"))
	return err == nil
}

// simulated decodes how many simulated nodes, and the release of a kind
// installed from its module (what simulates them, the cluster's DNS).
func (d *decoder) simulated(raw *componentSchema, kind Kind, c *Component) {
	if raw.Nodes != nil && !slices.Contains(kind.Takes, "nodes") {
		d.unsupported(raw.NodesRange, "nodes")
		raw.Nodes = nil
	}
	if raw.Version != nil && !slices.Contains(kind.Takes, "version") {
		d.unsupported(raw.VersionRange, "version")
		raw.Version = nil
	}
	if slices.Contains(kind.Takes, "nodes") {
		c.Nodes = or(raw.Nodes, 1)
		if !d.failed(raw.NodesAt) && (c.Nodes < 0 || c.Nodes > maxNodes) {
			d.errorf(raw.NodesAt, "Invalid node count", "nodes is from 0 to %d, not %d.", maxNodes, c.Nodes)
		}
	}
	c.Version = or(raw.Version, "")
	if raw.Version != nil {
		d.ranges["component."+kind.Name+".version"] = raw.VersionRange
	}
	if c.Version != "" && !versionRE.MatchString(c.Version) {
		d.errorf(raw.VersionAt, "Invalid "+kind.Name+" version", "%q is not a %s release; write it like \"v0.8.0\".", c.Version, kind.Name)
	}
}

// ownSource decodes the source a component is built from instead of the
// environment's (version skew).
func (d *decoder) ownSource(raw *componentSchema, kind Kind, c *Component) {
	prefix := "component." + raw.Name + ".kubernetes"
	if kind.Origin != FromTree {
		d.errorf(raw.Kubernetes.DefRange, "Unsupported block",
			"%s is not built from the Kubernetes tree, so it has no kubernetes block of its own.", raw.Name)
		return
	}
	k := d.kubernetes(raw.Kubernetes, prefix)
	c.Kubernetes = &k
}

// checkSkew refuses a component whose own release the Kubernetes version
// skew policy does not allow beside the environment's kube-apiserver, when
// both are released versions; other sources are checked once their trees
// are at hand (CheckSkew).
func (d *decoder) checkSkew(s *Spec) {
	api := s.Kubernetes.Version
	for _, c := range s.Components {
		if c.Kubernetes == nil || c.Kubernetes.Version == "" || api == "" {
			continue
		}
		k, _ := d.kinds.Find(c.Name)
		if err := CheckSkew(k, api, c.Kubernetes.Version); err != nil {
			d.errorf(s.Range("component."+c.Name+".kubernetes.version"), "Version skew not supported", "%v", err)
		}
	}
}

// CheckSkew says why the Kubernetes version skew policy
// (https://kubernetes.io/releases/version-skew-policy/) does not allow a
// component of kind k at version beside kube-apiserver at apiVersion; nil
// when it does, or when either version is not a release's.
func CheckSkew(k Kind, apiVersion, version string) error {
	api, okAPI := minorOf(apiVersion)
	own, ok := minorOf(version)
	switch {
	case !okAPI || !ok:
		return nil
	case own > api:
		return fmt.Errorf("%s %s is newer than kube-apiserver %s; the version skew policy allows no %s newer than kube-apiserver. Build it from kube-apiserver's release or an older one.",
			k.Name, version, apiVersion, k.Name)
	case api-own > k.Skew:
		return fmt.Errorf("%s %s is %d minor versions older than kube-apiserver %s; the version skew policy allows %s at most %d older.",
			k.Name, version, api-own, apiVersion, k.Name, k.Skew)
	}
	return nil
}

// minorOf is the minor version of a Kubernetes release such as "v1.34.4",
// or of a checkout's "v1.35.0-alpha.1.123+0123456789ab".
func minorOf(version string) (int, bool) {
	m := minorRE.FindStringSubmatch(version)
	if m == nil {
		return 0, false
	}
	minor, err := strconv.Atoi(m[1])
	return minor, err == nil
}

var minorRE = regexp.MustCompile(`^v1\.(\d+)\.\d+`)

// unsupported reports an attribute at a component of a kind that does not
// take it, naming the kinds that do.
func (d *decoder) unsupported(at hcl.Range, attribute string) {
	var takers []string
	for _, k := range d.kinds {
		if slices.Contains(k.Takes, attribute) {
			takers = append(takers, fmt.Sprintf("component %q", k.Name))
		}
	}
	list := strings.Join(takers, " and ")
	if n := len(takers); n > 2 {
		list = strings.Join(takers[:n-1], ", ") + " and " + takers[n-1]
	}
	detail := fmt.Sprintf("%s is set on %s only.", attribute, list)
	switch attribute {
	case "version":
		detail += " The components' version is kubernetes { version }."
	case EmulatedVersion, MinCompatibilityVersion:
		detail += " Only the control plane takes --emulated-version (KEP-4330); the kubelet and the others run as their binary's own release."
	}
	d.errorf(at, "Unsupported argument", "%s", detail)
}

func (d *decoder) debug(raw *debugSchema, defaultPort int) *Debug {
	dbg := &Debug{Port: d.port(raw.Port, raw.PortAt, defaultPort), Wait: or(raw.Wait, false), Dlv: or(raw.Dlv, "")}
	var argRanges []hcl.Range
	dbg.DlvArgs, argRanges = d.list(raw.DlvArgs)
	for i, arg := range dbg.DlvArgs {
		if name, _, _ := strings.Cut(arg, "="); slices.Contains(ownDlvFlags, name) {
			d.errorf(argRanges[i], "Delve option set by kenv", "kenv sets %s itself; use port, listen or wait in the debug block instead.", name)
		}
	}
	dbg.Listen = net.JoinHostPort("127.0.0.1", strconv.Itoa(dbg.Port))
	if raw.Listen != nil {
		if raw.Port != nil {
			d.errorf(raw.ListenRange, "Conflicting Delve address", "Set either port or listen, not both.")
		}
		dbg.Listen = *raw.Listen
		host, port, err := net.SplitHostPort(dbg.Listen)
		p, perr := strconv.Atoi(port)
		switch {
		case err != nil || perr != nil || p < 1 || p > 65535:
			d.errorf(raw.ListenAt, "Invalid Delve address", "%q is not a host:port such as \"127.0.0.1:2345\".", dbg.Listen)
		case !isLoopback(host):
			dbg.Port = p
			d.warnf(raw.ListenAt, "Delve listens beyond loopback",
				"Delve's API on %s is neither authenticated nor encrypted: whoever reaches it runs code as you. "+
					"Prefer the default loopback address and an SSH tunnel (ssh -L %d:127.0.0.1:%d host).", dbg.Listen, p, p)
		default:
			dbg.Port = p
		}
	}
	if dbg.Dlv != "" && !versionRE.MatchString(dbg.Dlv) {
		d.errorf(raw.DlvAt, "Invalid Delve version", "%q is not a Delve release; write it like \"v1.27.2\".", dbg.Dlv)
	}
	locations, ranges := d.list(raw.Breakpoints)
	for i, loc := range locations {
		dbg.Breakpoints = append(dbg.Breakpoints, d.breakpoint(loc, ranges[i]))
	}
	for _, rb := range raw.Breakpoint {
		bp := d.breakpoint(rb.Location, rb.DefRange)
		bp.Condition, bp.Trace = or(rb.Condition, ""), or(rb.Trace, false)
		dbg.Breakpoints = append(dbg.Breakpoints, bp)
	}
	return dbg
}

func (d *decoder) breakpoint(location string, at hcl.Range) Breakpoint {
	if strings.TrimSpace(location) == "" {
		d.errorf(at, "Empty breakpoint location", "Name a function or a file:line, such as \"k8s.io/apiserver/pkg/registry/generic/registry.(*Store).Create\".")
	}
	return Breakpoint{Location: location, Range: at}
}

// list decodes a list of strings, with where each element is written for
// checks of one element: the element itself in a list written out, the
// whole expression otherwise.
func (d *decoder) list(attr *hcl.Attribute) ([]string, []hcl.Range) {
	if attr == nil {
		return nil, nil
	}
	var list []string
	diags := gohcl.DecodeExpression(attr.Expr, d.ctx, &list)
	d.diags = append(d.diags, diags...)
	if diags.HasErrors() {
		return nil, nil // partly decoded, if at all
	}
	exprs, _ := hcl.ExprList(attr.Expr)
	ranges := make([]hcl.Range, len(list))
	for i := range ranges {
		ranges[i] = attr.Expr.Range()
		if i < len(exprs) {
			ranges[i] = exprs[i].Range()
		}
	}
	return list, ranges
}

// isRemote reports whether a git repository is named by URL, including
// the scp-like host:path form, rather than by local path.
func isRemote(repo string) bool {
	if strings.Contains(repo, "://") {
		return true
	}
	colon, slash := strings.Index(repo, ":"), strings.Index(repo, "/")
	return colon > 0 && (slash < 0 || colon < slash)
}

func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// flags decodes a map of flag name to value. Values may be strings, numbers
// or bools; null removes a flag kenv would otherwise pass.
func (d *decoder) flags(attr *hcl.Attribute) map[string]*string {
	if attr == nil {
		return nil
	}
	flags := map[string]*string{}
	d.eachItem(attr, `flags = { v = "4" }`, func(name string, val cty.Value, nameRange, valRange hcl.Range) {
		d.flag(flags, name, val, nameRange, valRange)
	})
	return flags
}

func (d *decoder) flag(flags map[string]*string, name string, val cty.Value, nameRange, valRange hcl.Range) {
	if strings.HasPrefix(name, "-") {
		d.errorf(nameRange, "Invalid flag name", "Write flag names without dashes: %q, not %q.", strings.TrimLeft(name, "-"), name)
		return
	}
	if val.IsNull() {
		flags[name] = nil
		return
	}
	if !val.IsKnown() {
		d.errorf(valRange, "Invalid flag value", "The value of flag %q is not known.", name)
		return
	}
	var s string
	switch val.Type() {
	case cty.String:
		s = val.AsString()
	case cty.Bool:
		s = fmt.Sprint(val.True())
	case cty.Number:
		s = val.AsBigFloat().Text('f', -1)
		if val.AsBigFloat().IsInt() {
			i, _ := val.AsBigFloat().Int(new(big.Int))
			s = i.String()
		}
	default:
		d.errorf(valRange, "Invalid flag value",
			"Flag %q has a %s value; use a string, number, bool, or null to remove the flag.", name, val.Type().FriendlyName())
		return
	}
	flags[name] = &s
}

// vmodule decodes { "pattern" = level, ... }.
func (d *decoder) vmodule(attr *hcl.Attribute) map[string]int {
	if attr == nil {
		return nil
	}
	levels := map[string]int{}
	d.eachItem(attr, `vmodule = { "round_trippers" = 6 }`, func(pattern string, val cty.Value, patternRange, valRange hcl.Range) {
		if pattern == "" || strings.ContainsAny(pattern, ",= ") {
			d.errorf(patternRange, "Invalid vmodule pattern", "%q is not a file pattern such as \"round_trippers\" or \"schedule_one*\".", pattern)
			return
		}
		if val.IsNull() || !val.IsKnown() || val.Type() != cty.Number || !val.AsBigFloat().IsInt() || val.AsBigFloat().Sign() < 0 {
			d.errorf(valRange, "Invalid vmodule level", "The level of %q is a whole number, 0 or more.", pattern)
			return
		}
		level, _ := val.AsBigFloat().Int64()
		levels[pattern] = int(level)
	})
	return levels
}

// port checks a port the spec sets at at; def when it sets none.
func (d *decoder) port(port *int, at hcl.Range, def int) int {
	switch {
	case port == nil || d.failed(at):
		return def
	case *port < 1 || *port > 65535:
		d.errorf(at, "Invalid port", "Port %d is out of range; use a port from 1 to 65535.", *port)
		return 0 // no port, so that no other listener is said to share it
	}
	return *port
}

// failed reports whether an error is reported at the value written at at.
// gohcl sets an int field to 0 before it finds that the number is not a
// whole one: that 0 is no value of the spec.
func (d *decoder) failed(at hcl.Range) bool {
	return slices.ContainsFunc(d.diags, func(diag *hcl.Diagnostic) bool {
		return diag.Severity == hcl.DiagError && diag.Subject != nil && diag.Subject.Start == at.Start
	})
}

// checkPorts reports two listeners of the environment on one port.
func (d *decoder) checkPorts(raw *fileSchema, s *Spec) {
	type listener struct {
		what string
		at   hcl.Range // where the spec sets the port; none for a default port
	}
	byPort := map[int]listener{}
	claim := func(port int, what string, at, block hcl.Range) {
		if port == 0 {
			return // invalid, reported already
		}
		l := listener{what: what, at: at}
		if at == (hcl.Range{}) {
			l.what += " (default port)"
		}
		prev, taken := byPort[port]
		if !taken {
			byPort[port] = l
			return
		}
		if prev.at != (hcl.Range{}) {
			prev.what += " at " + prev.at.String()
		}
		if at == (hcl.Range{}) {
			at = block
		}
		d.errorf(at, "Port used twice", "%s and %s both listen on port %d; give one of them another port.", l.what, prev.what, port)
	}
	var etcd etcdSchema
	if raw.Etcd != nil {
		etcd = *raw.Etcd
	}
	delveAt := func(rc *componentSchema) hcl.Range {
		if rc.Debug.Listen != nil {
			return rc.Debug.ListenRange
		}
		return rc.Debug.PortRange
	}
	fileStart := hcl.Range{Filename: s.File, Start: hcl.InitialPos, End: hcl.InitialPos}
	if d.swapping {
		// The components listen on their node; their Delve is reached
		// on this machine's loopback.
		for i := range raw.Components {
			rc := &raw.Components[i]
			if c := s.Component(rc.Name); c != nil && c.Debug != nil {
				claim(c.Debug.Port, c.Name+"'s Delve", delveAt(rc), rc.DefRange)
			}
		}
		return
	}
	claim(s.Etcd.Port, "etcd", etcd.PortRange, fileStart)
	claim(s.Etcd.PeerPort, "etcd's peer listener", etcd.PeerPortRange, fileStart)
	checked := map[string]bool{}
	for i := range raw.Components {
		rc := &raw.Components[i]
		c := s.Component(rc.Name)
		if c == nil || checked[rc.Name] {
			continue // unknown or duplicate, reported already
		}
		checked[rc.Name] = true
		if k, _ := d.kinds.Find(c.Name); k.OnNode {
			continue // it listens in its node; its Delve is the node's, below
		}
		claim(c.Port, c.Name, rc.PortRange, rc.DefRange)
		if c.Debug != nil {
			claim(c.Debug.Port, c.Name+"'s Delve", delveAt(rc), rc.DefRange)
		}
	}
	// A node's Delve is reached on this machine's loopback: each at a port
	// of its own.
	for i, n := range s.Nodes {
		for _, c := range s.OnNode(i) {
			if c.Debug == nil {
				continue
			}
			what := fmt.Sprintf("the Delve of %s on node %s", c.Name, n.Name)
			at, block := hcl.Range{}, n.DeclRange
			if rc := ownBlock(raw, n.Name, c.Name); rc != nil {
				at, block = delveAt(rc), rc.DefRange
			} else if rc := topBlock(raw, c.Name); rc != nil && i == 0 {
				at, block = delveAt(rc), rc.DefRange
			} else if i > 0 {
				what += fmt.Sprintf(" (component %q's Delve port + %d)", c.Name, i)
				at = n.DeclRange
			}
			claim(c.Debug.Port, what, at, block)
		}
	}
}

// ownBlock is node's own block of the component name, if any.
func ownBlock(raw *fileSchema, node, name string) *componentSchema {
	for i := range raw.Nodes {
		if raw.Nodes[i].Name != node {
			continue
		}
		for j := range raw.Nodes[i].Components {
			if rc := &raw.Nodes[i].Components[j]; rc.Name == name && rc.Debug != nil {
				return rc
			}
		}
	}
	return nil
}

// topBlock is the spec's block of the component name, if it has Delve.
func topBlock(raw *fileSchema, name string) *componentSchema {
	for i := range raw.Components {
		if rc := &raw.Components[i]; rc.Name == name && rc.Debug != nil {
			return rc
		}
	}
	return nil
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
