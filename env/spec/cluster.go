package spec

import (
	"encoding/json"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"

	"github.com/hashicorp/hcl/v2"
	"github.com/zclconf/go-cty/cty"
	ctyjson "github.com/zclconf/go-cty/cty/json"
)

// Defaults of the cluster-wide settings, local-up-cluster's where it has one.
const (
	DefaultBindAddress = "127.0.0.1"
	DefaultServiceCIDR = "10.0.0.0/24"
	// DefaultPodCIDR is local-up-cluster's CNI range.
	DefaultPodCIDR = "10.88.0.0/16"
	// DefaultNodeCIDR holds the nodes' addresses, beside the pods'.
	DefaultNodeCIDR  = "10.89.0.0/24"
	DefaultVerbosity = 3
)

// DefaultOptimize is what a debug build compiles optimised unless the spec
// says otherwise: the standard library.
var DefaultOptimize = []string{"std"}

// DefaultAuthorizationModes are local-up-cluster's.
var DefaultAuthorizationModes = []string{"Node", "RBAC"}

var authorizationModes = []string{"ABAC", "AlwaysAllow", "AlwaysDeny", "Node", "RBAC", "Webhook"}

var (
	pluginRE      = regexp.MustCompile(`^[A-Z][A-Za-z0-9]*$`)
	featureGateRE = regexp.MustCompile(`^[A-Z][A-Za-z0-9]*$`)
	hostnameRE    = regexp.MustCompile(`^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$`)
)

func (d *decoder) build(raw *buildSchema) Build {
	b := Build{Unoptimized: true, Binaries: []string{"kubectl"}, Optimize: DefaultOptimize}
	if raw == nil {
		return b
	}
	d.note("build", raw.DefRange, raw.Body)
	b.Unoptimized, b.GCFlags, b.LDFlags = or(raw.Debug, true), raw.GCFlags, raw.LDFlags
	if !b.Unoptimized {
		b.Optimize = nil // every package is
	}
	tags, ranges := d.list(raw.Tags)
	b.Tags = tags
	for i, tag := range tags {
		if tag == "" || strings.ContainsAny(tag, ", \t") {
			d.errorf(ranges[i], "Invalid build tag", "%q is not a build tag: one word per element, such as \"providerless\".", tag)
		}
	}
	if raw.Optimize != nil {
		b.Optimize, ranges = d.list(raw.Optimize)
		for i, pattern := range b.Optimize {
			if pattern == "" || strings.ContainsAny(pattern, "= \t") {
				d.errorf(ranges[i], "Invalid package pattern",
					"%q is not a package pattern: one per element, such as \"std\" or \"golang.org/x/net/...\".", pattern)
			}
		}
		if !b.Unoptimized && len(b.Optimize) > 0 {
			d.errorf(raw.Optimize.Range, "Optimize without debug",
				"optimize names the packages a debug build compiles optimised; with debug = false every package is. Remove optimize, or set debug = true.")
		}
	}
	if raw.Binaries != nil {
		b.Binaries, ranges = d.list(raw.Binaries)
	}
	for i, bin := range b.Binaries {
		if !commandRE.MatchString(bin) {
			d.errorf(ranges[i], "Invalid binary",
				"%q is not a command of the Kubernetes tree; name a directory under cmd/, such as \"kubectl\".", bin)
		}
	}
	return b
}

func (d *decoder) network(raw *networkSchema) Network {
	if raw == nil {
		raw = &networkSchema{}
	} else {
		d.note("network", raw.DefRange, raw.Body)
	}
	n := Network{BindAddress: or(raw.BindAddress, DefaultBindAddress), ServiceCIDR: or(raw.ServiceCIDR, DefaultServiceCIDR),
		PodCIDR: or(raw.PodCIDR, DefaultPodCIDR), NodeCIDR: or(raw.NodeCIDR, DefaultNodeCIDR)}
	if raw.BindAddress != nil {
		ip := net.ParseIP(n.BindAddress)
		switch {
		case ip == nil:
			d.errorf(raw.BindAddressAt, "Invalid bind address",
				"%q is not an IP address; use one such as \"127.0.0.1\", or \"0.0.0.0\" for every interface.", n.BindAddress)
		case !ip.IsLoopback():
			d.warnf(raw.BindAddressAt, "Components listen beyond loopback",
				"kube-apiserver, kube-controller-manager and kube-scheduler will accept connections on %s from other machines. "+
					"Delve and etcd stay on loopback.", n.BindAddress)
		}
	}
	// Clients cannot connect to "every interface".
	n.APIHost = n.BindAddress
	if ip := net.ParseIP(n.BindAddress); ip != nil && ip.IsUnspecified() {
		n.APIHost = DefaultBindAddress
	}
	n.APIHost = or(raw.APIHost, n.APIHost)
	if raw.APIHost != nil && !validHost(n.APIHost) {
		d.errorf(raw.APIHostAt, "Invalid API host", "%q is neither an IP address nor a DNS name.", n.APIHost)
	}
	if raw.ServiceCIDR != nil {
		if err := checkServiceCIDR(n.ServiceCIDR); err != nil {
			d.errorf(raw.ServiceCIDRAt, "Invalid service CIDR", "%v", err)
		}
	}
	if raw.PodCIDR != nil {
		if err := checkPodCIDR(n.PodCIDR, n.ServiceCIDR); err != nil {
			d.errorf(raw.PodCIDRAt, "Invalid pod CIDR", "%v", err)
		}
	}
	if raw.NodeCIDR != nil {
		if err := checkNodeCIDR(n.NodeCIDR, n.PodCIDR, n.ServiceCIDR); err != nil {
			d.errorf(raw.NodeCIDRAt, "Invalid node CIDR", "%v", err)
		}
	}
	return n
}

// checkNodeCIDR wants an IPv4 range for the host and the nodes, apart
// from the pods' and the Services'.
func checkNodeCIDR(cidr, podCIDR, serviceCIDR string) error {
	prefix, err := netip.ParsePrefix(cidr)
	switch {
	case err != nil:
		return fmt.Errorf("%q is not a CIDR such as %q", cidr, DefaultNodeCIDR)
	case prefix.Masked() != prefix:
		return fmt.Errorf("%q has host bits set; write %q", cidr, prefix.Masked())
	case !prefix.Addr().Is4() || prefix.Bits() > 28 || prefix.Bits() < 16:
		return fmt.Errorf("%q: the node range is an IPv4 range from /16 to /28", cidr)
	}
	for _, other := range []struct{ what, cidr string }{{"pod", podCIDR}, {"service", serviceCIDR}} {
		if o, err := netip.ParsePrefix(other.cidr); err == nil && o.Overlaps(prefix) {
			return fmt.Errorf("%q overlaps the %s range %s; choose apart ranges", cidr, other.what, other.cidr)
		}
	}
	return nil
}

// checkPodCIDR wants an IPv4 range the node's bridge can hand out, apart
// from the Service range.
func checkPodCIDR(cidr, serviceCIDR string) error {
	prefix, err := netip.ParsePrefix(cidr)
	switch {
	case err != nil:
		return fmt.Errorf("%q is not a CIDR such as %q", cidr, DefaultPodCIDR)
	case prefix.Masked() != prefix:
		return fmt.Errorf("%q has host bits set; write %q", cidr, prefix.Masked())
	case !prefix.Addr().Is4() || prefix.Bits() > 28:
		return fmt.Errorf("%q: the pod range is an IPv4 range of /28 or wider", cidr)
	}
	if service, err := netip.ParsePrefix(serviceCIDR); err == nil && service.Overlaps(prefix) {
		return fmt.Errorf("%q overlaps the service range %s; choose apart ranges", cidr, serviceCIDR)
	}
	return nil
}

func validHost(host string) bool {
	if net.ParseIP(host) != nil {
		return true
	}
	return hostnameRE.MatchString(host)
}

// checkServiceCIDR applies kube-apiserver's own limits, so that a bad range
// fails here rather than at the apiserver's start.
func checkServiceCIDR(cidr string) error {
	prefix, err := netip.ParsePrefix(cidr)
	if err != nil {
		return fmt.Errorf("%q is not a CIDR such as \"10.0.0.0/24\"", cidr)
	}
	if prefix.Masked() != prefix {
		return fmt.Errorf("%q has host bits set; write %q", cidr, prefix.Masked())
	}
	bits, size := prefix.Bits(), prefix.Addr().BitLen()
	switch {
	case size == 32 && (bits < 12 || bits > 30):
		return fmt.Errorf("%q: an IPv4 service range is /12 to /30", cidr)
	case size == 128 && (bits < 108 || bits > 126):
		return fmt.Errorf("%q: an IPv6 service range is /108 to /126", cidr)
	}
	return nil
}

func (d *decoder) etcd(raw *etcdSchema) Etcd {
	if raw == nil {
		raw = &etcdSchema{}
	}
	e := Etcd{Port: d.port(raw.Port, raw.PortAt, defaultEtcdPort), DataDir: d.path(raw.DataDir)}
	e.PeerPort = d.port(raw.PeerPort, raw.PeerPortAt, e.Port+1)
	if raw.PeerPort == nil && e.PeerPort > 65535 {
		d.errorf(raw.PortAt, "Invalid port", "The peer port defaults to port + 1, %d, which is out of range; set peer_port.", e.PeerPort)
	}
	return e
}

func (d *decoder) log(raw *logSchema) Log {
	if raw == nil {
		raw = &logSchema{}
	}
	return Log{Verbosity: or(d.verbosity(raw.Verbosity, raw.VerbosityAt), DefaultVerbosity), Dir: d.path(raw.Dir)}
}

// verbosity checks a klog -v level the spec sets at at.
func (d *decoder) verbosity(v *int, at hcl.Range) *int {
	if v == nil || d.failed(at) {
		return nil
	}
	if *v < 0 {
		d.errorf(at, "Invalid verbosity", "Verbosity is 0 or more (klog's -v), not %d.", *v)
		return nil
	}
	return v
}

// featureGates decodes { Name = true, ... }; nil when the spec has none.
func (d *decoder) featureGates(attr *hcl.Attribute) map[string]bool {
	if attr == nil {
		return nil
	}
	gates := map[string]bool{}
	d.eachItem(attr, "feature_gates = { SomeFeature = true }", func(name string, val cty.Value, nameRange, valRange hcl.Range) {
		if !featureGateRE.MatchString(name) {
			d.errorf(nameRange, "Invalid feature gate", "%q is not a feature gate name; they are written like \"InPlacePodVerticalScaling\".", name)
			return
		}
		if val.IsNull() || !val.IsKnown() || val.Type() != cty.Bool {
			d.errorf(valRange, "Invalid feature gate value", "Feature gate %s is true or false.", name)
			return
		}
		gates[name] = val.True()
	})
	return gates
}

// eachItem calls fn for each key and value of the object or map attr holds,
// with the key's and the value's positions when the spec writes the object
// out.
func (d *decoder) eachItem(attr *hcl.Attribute, example string, fn func(key string, val cty.Value, keyRange, valRange hcl.Range)) {
	if items, diags := hcl.ExprMap(attr.Expr); !diags.HasErrors() {
		for _, item := range items {
			var key string
			keyVal, diags := item.Key.Value(d.ctx)
			if !diags.HasErrors() && keyVal.Type() == cty.String && keyVal.IsKnown() && !keyVal.IsNull() {
				key = keyVal.AsString()
			} else {
				d.diags = append(d.diags, diags...)
				d.errorf(item.Key.Range(), "Invalid key", "Keys are names or strings, as in %s.", example)
				continue
			}
			val, diags := item.Value.Value(d.ctx)
			if diags.HasErrors() {
				d.diags = append(d.diags, diags...)
				continue
			}
			fn(key, val, item.Key.Range(), item.Value.Range())
		}
		return
	}
	val, diags := attr.Expr.Value(d.ctx)
	if diags.HasErrors() {
		d.diags = append(d.diags, diags...)
		return
	}
	if val.IsNull() || !val.IsKnown() || !(val.Type().IsObjectType() || val.Type().IsMapType()) {
		d.errorf(attr.Expr.Range(), "Invalid "+attr.Name, "%s must be a map, as in %s.", attr.Name, example)
		return
	}
	for it := val.ElementIterator(); it.Next(); {
		k, v := it.Element()
		fn(k.AsString(), v, attr.Expr.Range(), attr.Expr.Range())
	}
}

func (d *decoder) authorizationModes(attr *hcl.Attribute) []string {
	if attr == nil {
		return slices.Clone(DefaultAuthorizationModes)
	}
	modes, ranges := d.list(attr)
	if len(modes) == 0 {
		d.errorf(attr.Expr.Range(), "No authorization mode", "Name at least one of %s; [\"AlwaysAllow\"] lets everyone do everything.", strings.Join(authorizationModes, ", "))
	}
	for i, m := range modes {
		if !slices.Contains(authorizationModes, m) {
			detail := fmt.Sprintf("kube-apiserver's modes are %s.", strings.Join(authorizationModes, ", "))
			if guess := nearest(m, authorizationModes); guess != "" {
				detail = fmt.Sprintf("Did you mean %q? %s", guess, detail)
			}
			d.errorf(ranges[i], "Unknown authorization mode", "%s", detail)
		}
	}
	return modes
}

func (d *decoder) admission(raw *admissionSchema) Admission {
	var a Admission
	if raw == nil {
		return a
	}
	a.Enable = d.plugins(raw.Enable)
	a.Disable = d.plugins(raw.Disable)
	for _, p := range a.Enable {
		if slices.Contains(a.Disable, p) {
			d.errorf(raw.Disable.Expr.Range(), "Plugin enabled and disabled", "%s is in both enable and disable; keep it in one.", p)
		}
	}
	return a
}

func (d *decoder) plugins(attr *hcl.Attribute) []string {
	plugins, ranges := d.list(attr)
	for i, p := range plugins {
		if !pluginRE.MatchString(p) {
			d.errorf(ranges[i], "Invalid admission plugin", "%q is not an admission plugin name; they are written like \"AlwaysPullImages\".", p)
		}
	}
	return plugins
}

// audit reads the audit policy from the spec, written in HCL, or from a
// file, and checks it is a policy.
func (d *decoder) audit(raw *auditSchema) Audit {
	var a Audit
	switch {
	case raw == nil:
		return a
	case raw.Policy != nil && raw.PolicyFile != nil:
		d.errorf(raw.PolicyFileRange, "Two audit policies", "Set policy or policy_file, not both; policy is set at %s.", raw.Policy.Range)
	case raw.Policy != nil:
		val, diags := raw.Policy.Expr.Value(d.ctx)
		d.diags = append(d.diags, diags...)
		if diags.HasErrors() {
			return a
		}
		if val.IsNull() || !val.IsKnown() || !val.Type().IsObjectType() {
			d.errorf(raw.Policy.Expr.Range(), "Invalid audit policy", "policy is an object such as { rules = [{ level = \"Metadata\" }] }.")
			return a
		}
		doc, err := ctyjson.Marshal(val, val.Type())
		if err != nil {
			d.errorf(raw.Policy.Expr.Range(), "Invalid audit policy", "%v", err)
			return a
		}
		var policy map[string]any
		_ = json.Unmarshal(doc, &policy)
		if _, ok := policy["rules"].([]any); !ok {
			d.errorf(raw.Policy.Expr.Range(), "Invalid audit policy", "The policy has no rules; add rules = [{ level = \"Metadata\" }].")
			return a
		}
		policy["apiVersion"], policy["kind"] = "audit.k8s.io/v1", "Policy"
		out, _ := json.MarshalIndent(policy, "", "  ")
		a.Policy = string(out) + "\n"
	case raw.PolicyFile != nil:
		path := d.path(raw.PolicyFile)
		content, err := os.ReadFile(path)
		if err != nil {
			d.errorf(raw.PolicyFileAt, "Cannot read audit policy", "%v (a relative path is relative to the spec's directory).", err)
			return a
		}
		if !strings.Contains(string(content), "kind: Policy") && !strings.Contains(string(content), `"Policy"`) {
			d.errorf(raw.PolicyFileAt, "Not an audit policy", "%s has no kind: Policy; see https://kubernetes.io/docs/tasks/debug/debug-cluster/audit/.", path)
			return a
		}
		a.Policy = string(content)
	}
	return a
}

// path makes a path the spec sets relative to the spec's directory, unless
// it is absolute.
func (d *decoder) path(p *string) string {
	if p == nil || *p == "" || filepath.IsAbs(*p) {
		return or(p, "")
	}
	return filepath.Join(d.specDir, *p)
}
