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
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/zclconf/go-cty/cty"

	"github.com/kenv-dev/kenv/env/source"
)

// The file's schema as gohcl decodes it. Attributes are kept as
// *hcl.Attribute: they are evaluated once the locals are known, and later
// checks need their positions.
type fileSchema struct {
	Name               *hcl.Attribute    `hcl:"name,optional"`
	FeatureGates       *hcl.Attribute    `hcl:"feature_gates,optional"`
	AuthorizationModes *hcl.Attribute    `hcl:"authorization_modes,optional"`
	Locals             []localsSchema    `hcl:"locals,block"`
	Kubernetes         *kubernetesSchema `hcl:"kubernetes,block"`
	Build              *buildSchema      `hcl:"build,block"`
	Network            *networkSchema    `hcl:"network,block"`
	Etcd               *etcdSchema       `hcl:"etcd,block"`
	Log                *logSchema        `hcl:"log,block"`
	Admission          *admissionSchema  `hcl:"admission,block"`
	Audit              *auditSchema      `hcl:"audit,block"`
	Components         []componentSchema `hcl:"component,block"`
}

type localsSchema struct {
	Body hcl.Body `hcl:",remain"`
}

type kubernetesSchema struct {
	Version  *hcl.Attribute `hcl:"version,optional"`
	Path     *hcl.Attribute `hcl:"path,optional"`
	Git      *hcl.Attribute `hcl:"git,optional"`
	Ref      *hcl.Attribute `hcl:"ref,optional"`
	Go       *hcl.Attribute `hcl:"go,optional"`
	DefRange hcl.Range      `hcl:",def_range"`
}

type buildSchema struct {
	Debug    *hcl.Attribute `hcl:"debug,optional"`
	Tags     *hcl.Attribute `hcl:"tags,optional"`
	GCFlags  *hcl.Attribute `hcl:"gcflags,optional"`
	LDFlags  *hcl.Attribute `hcl:"ldflags,optional"`
	Binaries *hcl.Attribute `hcl:"binaries,optional"`
	DefRange hcl.Range      `hcl:",def_range"`
}

type networkSchema struct {
	BindAddress *hcl.Attribute `hcl:"bind_address,optional"`
	APIHost     *hcl.Attribute `hcl:"api_host,optional"`
	ServiceCIDR *hcl.Attribute `hcl:"service_cidr,optional"`
}

type etcdSchema struct {
	Port     *hcl.Attribute `hcl:"port,optional"`
	PeerPort *hcl.Attribute `hcl:"peer_port,optional"`
	DataDir  *hcl.Attribute `hcl:"data_dir,optional"`
}

type logSchema struct {
	Verbosity *hcl.Attribute `hcl:"verbosity,optional"`
	Dir       *hcl.Attribute `hcl:"dir,optional"`
}

type admissionSchema struct {
	Enable  *hcl.Attribute `hcl:"enable,optional"`
	Disable *hcl.Attribute `hcl:"disable,optional"`
}

type auditSchema struct {
	Policy     *hcl.Attribute `hcl:"policy,optional"`
	PolicyFile *hcl.Attribute `hcl:"policy_file,optional"`
	DefRange   hcl.Range      `hcl:",def_range"`
}

type componentSchema struct {
	Name      string         `hcl:"name,label"`
	Enabled   *hcl.Attribute `hcl:"enabled,optional"`
	Port      *hcl.Attribute `hcl:"port,optional"`
	Debug     *debugSchema   `hcl:"debug,block"`
	Flags     *hcl.Attribute `hcl:"flags,optional"`
	Args      *hcl.Attribute `hcl:"args,optional"`
	Env       *hcl.Attribute `hcl:"env,optional"`
	Verbosity *hcl.Attribute `hcl:"verbosity,optional"`
	VModule   *hcl.Attribute `hcl:"vmodule,optional"`
	Restart   *hcl.Attribute `hcl:"restart,optional"`
	DefRange  hcl.Range      `hcl:",def_range"`
	TypeRange hcl.Range      `hcl:",type_range"`
}

type debugSchema struct {
	Port        *hcl.Attribute     `hcl:"port,optional"`
	Listen      *hcl.Attribute     `hcl:"listen,optional"`
	Wait        *hcl.Attribute     `hcl:"wait,optional"`
	Dlv         *hcl.Attribute     `hcl:"dlv,optional"`
	DlvArgs     *hcl.Attribute     `hcl:"dlv_args,optional"`
	Breakpoints *hcl.Attribute     `hcl:"breakpoints,optional"`
	Breakpoint  []breakpointSchema `hcl:"breakpoint,block"`
}

type breakpointSchema struct {
	Location  string         `hcl:"location,label"`
	Condition *hcl.Attribute `hcl:"condition,optional"`
	Trace     *hcl.Attribute `hcl:"trace,optional"`
	DefRange  hcl.Range      `hcl:",def_range"`
}

// componentDefaults holds what kenv assumes for a component the spec does not
// configure. Debug ports differ per component so that several components can
// run under Delve without the spec naming a port for each.
type componentDefaults struct {
	port      int
	debugPort int
}

var knownComponents = map[string]componentDefaults{
	KubeAPIServer:         {port: 6443, debugPort: 2345},
	KubeControllerManager: {port: 10257, debugPort: 2346},
	KubeScheduler:         {port: 10259, debugPort: 2347},
}

// ownDlvFlags are the dlv exec options kenv sets; dlv_args may not change
// them.
var ownDlvFlags = []string{"--headless", "--api-version", "--accept-multiclient", "--listen", "-l", "--continue"}

// KnownComponents lists the components kenv runs, sorted.
func KnownComponents() []string { return sortedKeys(knownComponents) }

// DefaultDebugPort is the Delve port of a component whose debug block names
// none, or that is switched to Delve by `kenv restart --debug`.
func DefaultDebugPort(component string) int { return knownComponents[component].debugPort }

// plannedComponents are real Kubernetes components kenv does not run yet.
var plannedComponents = map[string]bool{"kubelet": true, "kube-proxy": true}

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
func ParseFile(path string) (*Spec, *hclparse.Parser, hcl.Diagnostics) {
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
	s, diags := parse(parser, src, abs)
	return s, parser, diags
}

// Parse parses src as the spec file named filename.
func Parse(src []byte, filename string) (*Spec, hcl.Diagnostics) {
	return parse(hclparse.NewParser(), src, filename)
}

func parse(parser *hclparse.Parser, src []byte, filename string) (*Spec, hcl.Diagnostics) {
	file, diags := parser.ParseHCL(src, filename)
	if diags.HasErrors() {
		return nil, diags
	}
	// gohcl decodes all it can beside a schema error (an unknown
	// attribute, say): the rest of the file is checked too, so that one
	// run reports every problem.
	var raw fileSchema
	diags = append(diags, gohcl.DecodeBody(file.Body, nil, &raw)...)
	d := decoder{}
	s := d.spec(&raw, filename, file.Body)
	diags = append(diags, d.diags...)
	if diags.HasErrors() {
		return nil, diags
	}
	return s, diags
}

// decoder collects diagnostics while it turns the raw schema into a Spec, so
// that one run reports every problem.
type decoder struct {
	diags hcl.Diagnostics
	// ctx holds the locals and functions expressions can use.
	ctx     *hcl.EvalContext
	specDir string
	ranges  map[string]hcl.Range
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

// note records where the spec sets name, for messages about it later.
func (d *decoder) note(name string, attr *hcl.Attribute) {
	if attr != nil {
		d.ranges[name] = attr.Range
	}
}

func (d *decoder) spec(raw *fileSchema, filename string, body hcl.Body) *Spec {
	d.specDir = filepath.Dir(filename)
	d.ranges = map[string]hcl.Range{}
	d.ctx = d.evalContext(raw.Locals)
	s := &Spec{File: filename, Name: defaultName(filename), Ranges: d.ranges}
	if raw.Name != nil {
		s.Name = d.str(raw.Name, s.Name)
		if !nameRE.MatchString(s.Name) {
			d.errorf(raw.Name.Expr.Range(), "Invalid environment name",
				"%q is not a valid name: use lower-case letters, digits and dashes, such as \"debug\".", s.Name)
		}
	} else if !nameRE.MatchString(s.Name) {
		d.errorf(body.MissingItemRange(), "Invalid environment name",
			"The file name %q does not make a valid environment name; set name = \"...\" with lower-case letters, digits and dashes.", s.Name)
	}

	if raw.Kubernetes == nil {
		d.errorf(body.MissingItemRange(), "Missing kubernetes block",
			"The spec must say which Kubernetes to build, for example:\n  kubernetes {\n    version = \"v1.34.4\"\n  }")
	} else {
		s.Kubernetes = d.kubernetes(raw.Kubernetes)
	}
	s.Build = d.build(raw.Build)
	s.Network = d.network(raw.Network)
	s.Etcd = d.etcd(raw.Etcd)
	s.Log = d.log(raw.Log)
	s.FeatureGates = d.featureGates(raw.FeatureGates)
	s.AuthorizationModes = d.authorizationModes(raw.AuthorizationModes)
	s.Admission = d.admission(raw.Admission)
	s.Audit = d.audit(raw.Audit)

	seen := map[string]hcl.Range{}
	for i := range raw.Components {
		rc := &raw.Components[i]
		if prev, dup := seen[rc.Name]; dup {
			d.diags = append(d.diags, &hcl.Diagnostic{
				Severity: hcl.DiagError,
				Summary:  "Duplicate component",
				Detail:   fmt.Sprintf("Component %q is already defined at %s. Merge the two blocks.", rc.Name, prev),
				Subject:  rc.DefRange.Ptr(),
			})
			continue
		}
		seen[rc.Name] = rc.DefRange
		c, ok := d.component(rc)
		switch {
		case !ok:
		case !d.boolean(rc.Enabled, true):
			if rc.Name == KubeAPIServer {
				d.errorf(rc.Enabled.Range, "kube-apiserver cannot be disabled",
					"Every environment runs kube-apiserver; remove enabled = false.")
			}
		default:
			d.ranges["component."+rc.Name] = rc.DefRange
			s.Components = append(s.Components, c)
		}
	}
	if len(raw.Components) > 0 && seen[KubeAPIServer] == (hcl.Range{}) {
		d.errorf(body.MissingItemRange(), "Missing kube-apiserver",
			"Every environment runs kube-apiserver; add component \"kube-apiserver\" {}.")
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
	d.checkPorts(raw, s)
	return s
}

func (d *decoder) kubernetes(raw *kubernetesSchema) Kubernetes {
	var k Kubernetes
	d.ranges["kubernetes"] = raw.DefRange
	for name, attr := range map[string]*hcl.Attribute{"version": raw.Version, "git": raw.Git, "ref": raw.Ref, "path": raw.Path, "go": raw.Go} {
		d.note("kubernetes."+name, attr)
	}
	if raw.Go != nil {
		k.Go = d.str(raw.Go, "")
		if !goVersionRE.MatchString(k.Go) {
			d.errorf(raw.Go.Expr.Range(), "Invalid Go version",
				"%q is not a Go release; write it like \"1.24.12\" (without \"go\").", k.Go)
		}
	}
	var sources []*hcl.Attribute
	for _, a := range []*hcl.Attribute{raw.Version, raw.Git, raw.Path} {
		if a != nil {
			sources = append(sources, a)
		}
	}
	switch {
	case len(sources) == 0:
		d.errorf(raw.DefRange, "Missing Kubernetes source",
			"Set one of version = \"v1.34.4\" (a release from the Go module proxy), git = \"<url or path>\" with ref = \"<tag, branch or commit>\", or path = \"../kubernetes\" (a local checkout).")
		return k
	case len(sources) > 1:
		d.errorf(sources[1].Range, "More than one Kubernetes source",
			"Set one of version, git and path; %s is set at %s.", sources[0].Name, sources[0].Range)
		return k
	}
	if raw.Ref != nil && raw.Git == nil {
		d.errorf(raw.Ref.Range, "ref without git", "ref names a tag, branch or commit of the git repository that git = \"...\" names.")
	}
	switch {
	case raw.Git != nil:
		k.Git = d.str(raw.Git, "")
		if raw.Ref == nil {
			d.errorf(raw.Git.Range, "Missing ref", "Say which tag, branch or commit of %s to build: ref = \"v1.34.4\".", k.Git)
			return k
		}
		k.Ref = d.str(raw.Ref, "")
		if strings.TrimSpace(k.Git) == "" {
			d.errorf(raw.Git.Expr.Range(), "Empty git repository", "Name a repository by URL, such as \"https://github.com/kubernetes/kubernetes.git\", or by path.")
		}
		if strings.TrimSpace(k.Ref) == "" {
			d.errorf(raw.Ref.Expr.Range(), "Empty ref", "Name a tag, branch or commit, such as \"v1.34.4\".")
		}
		// A local repository is named relative to the spec, like path.
		if k.Git != "" && !isRemote(k.Git) && !filepath.IsAbs(k.Git) {
			k.Git = filepath.Join(d.specDir, k.Git)
		}
	case raw.Path != nil:
		k.Path = d.str(raw.Path, "")
		if !filepath.IsAbs(k.Path) {
			k.Path = filepath.Join(d.specDir, k.Path)
		}
		if err := source.IsCheckout(k.Path); err != nil {
			d.errorf(raw.Path.Expr.Range(), "Not a Kubernetes checkout", "%v. Point path at the root of a Kubernetes git checkout.", err)
		}
	default:
		k.Version = d.str(raw.Version, "")
		if !versionRE.MatchString(k.Version) {
			d.errorf(raw.Version.Expr.Range(), "Invalid Kubernetes version",
				"%q is not a Kubernetes release version; write it like \"v1.34.4\".", k.Version)
		}
	}
	return k
}

func (d *decoder) component(raw *componentSchema) (Component, bool) {
	defaults, known := knownComponents[raw.Name]
	if !known {
		detail := fmt.Sprintf("kenv runs %s.", strings.Join(sortedKeys(knownComponents), ", "))
		if plannedComponents[raw.Name] {
			detail = fmt.Sprintf("%q is not supported yet; %s", raw.Name, detail)
		} else if guess := nearest(raw.Name, sortedKeys(knownComponents)); guess != "" {
			detail = fmt.Sprintf("Did you mean %q? %s", guess, detail)
		}
		d.errorf(raw.DefRange, "Unknown component", "%s", detail)
		return Component{}, false
	}
	c := Component{Name: raw.Name, DeclRange: raw.DefRange}
	if raw.Debug != nil {
		d.note("component."+raw.Name+".debug.dlv", raw.Debug.Dlv)
	}
	c.Port = d.port(raw.Port, defaults.port)
	if raw.Debug != nil {
		c.Debug = d.debug(raw.Debug, defaults.debugPort)
	}
	c.Flags = d.flags(raw.Flags)
	c.Args = d.strs(raw.Args)
	c.Env = d.stringMap(raw.Env)
	if raw.Verbosity != nil {
		v := d.verbosity(raw.Verbosity, DefaultVerbosity)
		c.Verbosity = &v
	}
	c.VModule = d.vmodule(raw.VModule)
	c.Restart = d.str(raw.Restart, RestartNever)
	if c.Restart != RestartNever && c.Restart != RestartOnFailure {
		d.errorf(raw.Restart.Expr.Range(), "Invalid restart policy",
			"restart is %q or %q, not %q.", RestartNever, RestartOnFailure, c.Restart)
	}
	return c, true
}

func (d *decoder) debug(raw *debugSchema, defaultPort int) *Debug {
	dbg := &Debug{
		Port:    d.port(raw.Port, defaultPort),
		Wait:    d.boolean(raw.Wait, false),
		Dlv:     d.str(raw.Dlv, ""),
		DlvArgs: d.strs(raw.DlvArgs),
	}
	for i, arg := range dbg.DlvArgs {
		if name, _, _ := strings.Cut(arg, "="); slices.Contains(ownDlvFlags, name) {
			d.errorf(elementRanges(raw.DlvArgs.Expr, len(dbg.DlvArgs))[i], "Delve option set by kenv",
				"kenv sets %s itself; use port, listen or wait in the debug block instead.", name)
		}
	}
	dbg.Listen = net.JoinHostPort("127.0.0.1", strconv.Itoa(dbg.Port))
	if raw.Listen != nil {
		if raw.Port != nil {
			d.errorf(raw.Listen.Range, "Conflicting Delve address", "Set either port or listen, not both.")
		}
		dbg.Listen = d.str(raw.Listen, dbg.Listen)
		host, port, err := net.SplitHostPort(dbg.Listen)
		p, perr := strconv.Atoi(port)
		switch {
		case err != nil || perr != nil || p < 1 || p > 65535:
			d.errorf(raw.Listen.Expr.Range(), "Invalid Delve address", "%q is not a host:port such as \"127.0.0.1:2345\".", dbg.Listen)
		case !isLoopback(host):
			dbg.Port = p
			d.diags = append(d.diags, &hcl.Diagnostic{
				Severity: hcl.DiagWarning,
				Summary:  "Delve listens beyond loopback",
				Detail: fmt.Sprintf("Delve's API on %s is neither authenticated nor encrypted: whoever reaches it runs code as you. "+
					"Prefer the default loopback address and an SSH tunnel (ssh -L %d:127.0.0.1:%d host).", dbg.Listen, p, p),
				Subject: raw.Listen.Expr.Range().Ptr(),
			})
		default:
			dbg.Port = p
		}
	}
	if dbg.Dlv != "" && !versionRE.MatchString(dbg.Dlv) {
		d.errorf(raw.Dlv.Expr.Range(), "Invalid Delve version", "%q is not a Delve release; write it like \"v1.27.2\".", dbg.Dlv)
	}
	if raw.Breakpoints != nil {
		var locations []string
		if diags := gohcl.DecodeExpression(raw.Breakpoints.Expr, d.ctx, &locations); diags.HasErrors() {
			d.diags = append(d.diags, diags...)
		}
		ranges := elementRanges(raw.Breakpoints.Expr, len(locations))
		for i, loc := range locations {
			dbg.Breakpoints = append(dbg.Breakpoints, d.breakpoint(loc, ranges[i]))
		}
	}
	for _, rb := range raw.Breakpoint {
		bp := d.breakpoint(rb.Location, rb.DefRange)
		bp.Condition = d.str(rb.Condition, "")
		bp.Trace = d.boolean(rb.Trace, false)
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

// elementRanges returns the range of each element of a list expression,
// or the whole expression's range for each when it is not a literal list.
func elementRanges(expr hcl.Expression, n int) []hcl.Range {
	ranges := make([]hcl.Range, n)
	tuple, ok := expr.(*hclsyntax.TupleConsExpr)
	for i := range ranges {
		ranges[i] = expr.Range()
		if ok && i < len(tuple.Exprs) {
			ranges[i] = tuple.Exprs[i].Range()
		}
	}
	return ranges
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

// strs decodes a list of strings; nil when attr is.
func (d *decoder) strs(attr *hcl.Attribute) []string {
	var list []string
	decode(d, attr, &list)
	return list
}

// stringMap decodes a map of strings; numbers and bools become strings.
func (d *decoder) stringMap(attr *hcl.Attribute) map[string]string {
	var m map[string]string
	decode(d, attr, &m)
	return m
}

func (d *decoder) integer(attr *hcl.Attribute, def int) int {
	decode(d, attr, &def)
	return def
}

func (d *decoder) str(attr *hcl.Attribute, def string) string {
	decode(d, attr, &def)
	return def
}

func (d *decoder) boolean(attr *hcl.Attribute, def bool) bool {
	decode(d, attr, &def)
	return def
}

// decode sets *v to the value of attr when the spec sets it and the value
// has v's type. A value that depends on a local that failed is left alone:
// that failure is reported already.
func decode[T any](d *decoder, attr *hcl.Attribute, v *T) {
	if attr == nil {
		return
	}
	val, diags := attr.Expr.Value(d.ctx)
	if diags.HasErrors() {
		d.diags = append(d.diags, diags...)
		return
	}
	if !val.IsWhollyKnown() {
		return
	}
	var decoded T
	if diags := gohcl.DecodeExpression(attr.Expr, d.ctx, &decoded); diags.HasErrors() {
		d.diags = append(d.diags, diags...)
		return
	}
	*v = decoded
}

func (d *decoder) port(attr *hcl.Attribute, def int) int {
	if attr == nil {
		return def
	}
	p := d.integer(attr, def)
	if p < 1 || p > 65535 {
		d.errorf(attr.Expr.Range(), "Invalid port", "Port %d is out of range; use a port from 1 to 65535.", p)
		return 0 // no port, so that no other listener is said to share it
	}
	return p
}

// checkPorts reports two listeners of the environment on one port.
func (d *decoder) checkPorts(raw *fileSchema, s *Spec) {
	type listener struct {
		what string
		at   *hcl.Range // nil for a default port
	}
	byPort := map[int]listener{}
	claim := func(port int, what string, attr *hcl.Attribute, block hcl.Range) {
		if port == 0 {
			return // invalid, reported already
		}
		l := listener{what: what + " (default port)"}
		if attr != nil {
			l = listener{what: what, at: attr.Range.Ptr()}
		}
		prev, taken := byPort[port]
		if !taken {
			byPort[port] = l
			return
		}
		if prev.at != nil {
			prev.what += " at " + prev.at.String()
		}
		subject := l.at
		if subject == nil {
			subject = block.Ptr()
		}
		d.diags = append(d.diags, &hcl.Diagnostic{
			Severity: hcl.DiagError,
			Summary:  "Port used twice",
			Detail:   fmt.Sprintf("%s and %s both listen on port %d; give one of them another port.", l.what, prev.what, port),
			Subject:  subject,
		})
	}
	var etcdPort, etcdPeerPort *hcl.Attribute
	if raw.Etcd != nil {
		etcdPort, etcdPeerPort = raw.Etcd.Port, raw.Etcd.PeerPort
	}
	fileStart := hcl.Range{Filename: s.File, Start: hcl.InitialPos, End: hcl.InitialPos}
	claim(s.Etcd.Port, "etcd", etcdPort, fileStart)
	claim(s.Etcd.PeerPort, "etcd's peer listener", etcdPeerPort, fileStart)
	checked := map[string]bool{}
	for _, rc := range raw.Components {
		c := s.Component(rc.Name)
		if c == nil || checked[rc.Name] {
			continue // unknown or duplicate, reported already
		}
		checked[rc.Name] = true
		claim(c.Port, c.Name, rc.Port, rc.DefRange)
		if c.Debug != nil {
			attr := rc.Debug.Port
			if rc.Debug.Listen != nil {
				attr = rc.Debug.Listen
			}
			claim(c.Debug.Port, c.Name+"'s Delve", attr, rc.DefRange)
		}
	}
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
