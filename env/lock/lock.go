// Package lock reads, writes and checks a spec's lock file: what the spec
// resolved to when it was locked (the source's module hashes or git commit,
// the Go toolchain, the Delve release, the build settings) and a hash of
// each binary built from it. Later runs build from exactly that, and refuse
// a spec that no longer matches it.
package lock

import (
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/google/renameio/v2"
	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/gohcl"
	"github.com/hashicorp/hcl/v2/hclparse"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/hashicorp/hcl/v2/hclwrite"
	"github.com/zclconf/go-cty/cty"

	"github.com/kenv-dev/kenv/env/build"
	"github.com/kenv-dev/kenv/env/source"
	"github.com/kenv-dev/kenv/env/spec"
)

// Lock is the content of a lock file.
type Lock struct {
	// File is the lock file's path.
	File string

	// The source as the spec names it; Git and Path relative to the spec's
	// directory when they are local.
	Version string
	Git     string
	Ref     string
	Path    string
	// Commit is the git commit of a git or path source.
	Commit string
	// Modules are the module versions and hashes of a version source.
	Modules []source.Module
	// Go is the toolchain the binaries are built with.
	Go string
	// BuildDate is the build date the binaries report. For a version
	// source it comes from the module proxy's record of the release, which
	// one proxy may give otherwise than another, or than itself later: the
	// lock keeps it so that the binaries stay the same.
	BuildDate string
	// Delve maps each debugged component to the Delve release it runs
	// under.
	Delve map[string]string
	// Installed maps each kind kenv installs from its Go module (kwok,
	// coredns) to the release it runs.
	Installed map[string]string

	Unoptimized bool
	Tags        []string
	GCFlags     []string
	LDFlags     []string
	Optimize    []string
	// Built is what the binaries record of how they were built: the
	// toolchain and the build settings, which are the same for all of
	// them. When a binary's hash differs, it tells which input changed.
	Built build.Provenance
	// Binaries maps each binary built to its hash and the digest of its
	// modules; empty for a checkout built as it is, whose binaries change
	// with every edit.
	Binaries map[string]Binary
	// Components are the locks of the components built from a source of
	// their own (spec.OwnTrees), by name.
	Components map[string]*Lock
}

// Binary is what the lock records of one binary.
type Binary struct {
	// SHA256 is the binary's hash; empty for one built with cgo, whose
	// bytes depend on the machine's C library.
	SHA256 string
	// Modules digests the module versions and hashes it was built from.
	Modules string
	// Settings are the build settings in which it differs from Built:
	// those of the cgo build, for the kubelet.
	Settings map[string]string
}

// Provenance is the provenance the lock records for binary name.
func (l *Lock) Provenance(name string) build.Provenance {
	p := l.Built
	bin := l.Binaries[name]
	p.Modules = bin.Modules
	if len(bin.Settings) > 0 {
		p.Settings = maps.Clone(p.Settings)
		maps.Copy(p.Settings, bin.Settings)
	}
	return p
}

// PathFor returns the lock file of the spec at specFile: debug.hcl is locked
// in debug.lock.hcl beside it.
func PathFor(specFile string) string {
	return strings.TrimSuffix(specFile, ".hcl") + ".lock.hcl"
}

// The file's schema.
type lockFile struct {
	Kubernetes kubernetesBlock   `hcl:"kubernetes,block"`
	Build      buildBlock        `hcl:"build,block"`
	Delve      map[string]string `hcl:"delve,optional"`
	Kwok       string            `hcl:"kwok,optional"`
	CoreDNS    string            `hcl:"coredns,optional"`
	Components []componentBlock  `hcl:"component,block"`
}

// componentBlock locks a component built from a source of its own, as a
// lock file of its own would.
type componentBlock struct {
	Name       string            `hcl:"name,label"`
	Kubernetes kubernetesBlock   `hcl:"kubernetes,block"`
	Build      buildBlock        `hcl:"build,block"`
	Delve      map[string]string `hcl:"delve,optional"`
}

type kubernetesBlock struct {
	Version   string        `hcl:"version,optional"`
	Git       string        `hcl:"git,optional"`
	Ref       string        `hcl:"ref,optional"`
	Path      string        `hcl:"path,optional"`
	Commit    string        `hcl:"commit,optional"`
	Go        string        `hcl:"go"`
	BuildDate string        `hcl:"build_date,optional"`
	Modules   []moduleBlock `hcl:"module,block"`
}

type moduleBlock struct {
	Path    string `hcl:"path,label"`
	Version string `hcl:"version"`
	Sum     string `hcl:"sum"`
}

type buildBlock struct {
	Debug     bool              `hcl:"debug"`
	Tags      []string          `hcl:"tags,optional"`
	GCFlags   []string          `hcl:"gcflags,optional"`
	LDFlags   []string          `hcl:"ldflags,optional"`
	Optimize  []string          `hcl:"optimize,optional"`
	GoVersion string            `hcl:"go_version,optional"`
	Settings  map[string]string `hcl:"settings,optional"`
	Binaries  []binaryBlock     `hcl:"binary,block"`
}

type binaryBlock struct {
	Name     string            `hcl:"name,label"`
	SHA256   string            `hcl:"sha256,optional"`
	Modules  string            `hcl:"modules,optional"`
	Settings map[string]string `hcl:"settings,optional"`
}

// Read reads the lock file at path. It returns nil and no diagnostics when
// there is none.
func Read(path string) (*Lock, *hclparse.Parser, hcl.Diagnostics) {
	parser := hclparse.NewParser()
	if _, err := os.Stat(path); errors.Is(err, os.ErrNotExist) {
		return nil, parser, nil
	}
	file, diags := parser.ParseHCLFile(path)
	if diags.HasErrors() {
		return nil, parser, diags
	}
	var raw lockFile
	if diags := gohcl.DecodeBody(file.Body, nil, &raw); diags.HasErrors() {
		return nil, parser, diags
	}
	l := decode(path, raw.Kubernetes, raw.Build, raw.Delve)
	for kind, release := range map[string]string{"kwok": raw.Kwok, "coredns": raw.CoreDNS} {
		if release != "" {
			if l.Installed == nil {
				l.Installed = map[string]string{}
			}
			l.Installed[kind] = release
		}
	}
	for _, c := range raw.Components {
		if l.Components == nil {
			l.Components = map[string]*Lock{}
		}
		l.Components[c.Name] = decode(path, c.Kubernetes, c.Build, c.Delve)
	}
	return l, parser, nil
}

func decode(path string, k kubernetesBlock, b buildBlock, delve map[string]string) *Lock {
	l := &Lock{
		File:    path,
		Version: k.Version, Git: k.Git, Ref: k.Ref, Path: k.Path, Commit: k.Commit, Go: k.Go, BuildDate: k.BuildDate,
		Delve:       delve,
		Unoptimized: b.Debug, Tags: b.Tags, GCFlags: b.GCFlags, LDFlags: b.LDFlags, Optimize: b.Optimize,
		Built:    build.Provenance{GoVersion: b.GoVersion, Settings: b.Settings},
		Binaries: map[string]Binary{},
	}
	for _, m := range k.Modules {
		l.Modules = append(l.Modules, source.Module{Path: m.Path, Version: m.Version, Sum: m.Sum})
	}
	for _, bin := range b.Binaries {
		l.Binaries[bin.Name] = Binary{SHA256: bin.SHA256, Modules: bin.Modules, Settings: bin.Settings}
	}
	return l
}

// Write writes l to l.File.
func (l *Lock) Write() error {
	f := hclwrite.NewEmptyFile()
	root := f.Body()
	root.AppendUnstructuredTokens(comment(fmt.Sprintf(
		"# Written by kenv for %s: what `kenv up` builds it from. Commit it with the spec.\n"+
			"# When the spec changes, `kenv lock --update %s` locks it anew.\n",
		filepath.Base(strings.TrimSuffix(l.File, ".lock.hcl")+".hcl"), filepath.Base(strings.TrimSuffix(l.File, ".lock.hcl")+".hcl"))))
	root.AppendNewline()

	l.writeTree(root)
	for _, kind := range slices.Sorted(maps.Keys(l.Installed)) {
		root.AppendNewline()
		setString(root, kind, l.Installed[kind])
	}
	for _, name := range slices.Sorted(maps.Keys(l.Components)) {
		root.AppendNewline()
		l.Components[name].writeTree(root.AppendNewBlock("component", []string{name}).Body())
	}
	return renameio.WriteFile(l.File, f.Bytes(), 0o644)
}

// writeTree writes what l locks of one tree into body: its source, its
// build and the Delve of its components.
func (l *Lock) writeTree(root *hclwrite.Body) {
	k := root.AppendNewBlock("kubernetes", nil).Body()
	setString(k, "version", l.Version)
	setString(k, "git", l.Git)
	setString(k, "ref", l.Ref)
	setString(k, "path", l.Path)
	setString(k, "commit", l.Commit)
	k.SetAttributeValue("go", cty.StringVal(l.Go))
	setString(k, "build_date", l.BuildDate)
	for _, m := range l.Modules {
		k.AppendNewline()
		mb := k.AppendNewBlock("module", []string{m.Path}).Body()
		mb.SetAttributeValue("version", cty.StringVal(m.Version))
		mb.SetAttributeValue("sum", cty.StringVal(m.Sum))
	}
	root.AppendNewline()

	b := root.AppendNewBlock("build", nil).Body()
	b.SetAttributeValue("debug", cty.BoolVal(l.Unoptimized))
	setStrings(b, "tags", l.Tags)
	setStrings(b, "gcflags", l.GCFlags)
	setStrings(b, "ldflags", l.LDFlags)
	setStrings(b, "optimize", l.Optimize)
	setString(b, "go_version", l.Built.GoVersion)
	if len(l.Built.Settings) > 0 {
		b.SetAttributeValue("settings", stringObject(l.Built.Settings))
	}
	for _, name := range slices.Sorted(maps.Keys(l.Binaries)) {
		b.AppendNewline()
		bb := b.AppendNewBlock("binary", []string{name}).Body()
		setString(bb, "sha256", l.Binaries[name].SHA256)
		setString(bb, "modules", l.Binaries[name].Modules)
		if settings := l.Binaries[name].Settings; len(settings) > 0 {
			bb.SetAttributeValue("settings", stringObject(settings))
		}
	}
	if len(l.Delve) > 0 {
		root.AppendNewline()
		root.SetAttributeValue("delve", stringObject(l.Delve))
	}
}

func comment(text string) hclwrite.Tokens {
	return hclwrite.Tokens{{Type: hclsyntax.TokenComment, Bytes: []byte(text)}}
}

func setString(body *hclwrite.Body, name, value string) {
	if value != "" {
		body.SetAttributeValue(name, cty.StringVal(value))
	}
}

// stringObject is m as an HCL object of strings.
func stringObject(m map[string]string) cty.Value {
	values := map[string]cty.Value{}
	for k, v := range m {
		values[k] = cty.StringVal(v)
	}
	return cty.ObjectVal(values)
}

func setStrings(body *hclwrite.Body, name string, values []string) {
	if len(values) == 0 {
		return
	}
	list := make([]cty.Value, len(values))
	for i, v := range values {
		list[i] = cty.StringVal(v)
	}
	body.SetAttributeValue(name, cty.ListVal(list))
}

// Settle sets what tree is built with where the spec or the lock decides:
// the toolchain is the spec's pin, else the lock's, else the source's
// .go-version; the build date is the lock's, else the source's. l may be
// nil.
func Settle(s *spec.Spec, l *Lock, tree *source.Tree) {
	switch {
	case s.Kubernetes.Go != "":
		tree.GoVersion = s.Kubernetes.Go
	case l != nil:
		tree.GoVersion = l.Go
	}
	if l != nil && l.BuildDate != "" {
		tree.Version.BuildDate = l.BuildDate
	}
}

// InstallPin is the release of kind, installed from its module, when the
// spec (pin) or the lock l, which may be nil, names one; empty lets kenv
// choose.
func InstallPin(l *Lock, kind, pin string) string {
	if pin == "" && l != nil {
		return l.Installed[kind]
	}
	return pin
}

// DelvePin is the Delve release component runs under when the spec (pin)
// or the lock l, which may be nil, names one; empty lets delve.Locate
// choose.
func DelvePin(l *Lock, component, pin string) string {
	if pin == "" && l != nil {
		return l.Delve[component]
	}
	return pin
}

// SourceOf returns how the lock names the source of s: local git and path
// sources relative to the spec's directory, so that the lock moves with the
// spec.
func SourceOf(s *spec.Spec) (version, git, ref, path string) {
	k := s.Kubernetes
	rel := func(p string) string {
		if r, err := filepath.Rel(filepath.Dir(s.File), p); err == nil {
			return filepath.ToSlash(r)
		}
		return p
	}
	git = k.Git
	if git != "" && filepath.IsAbs(git) {
		git = rel(git)
	}
	if k.Path != "" {
		path = rel(k.Path)
	}
	return k.Version, git, k.Ref, path
}

// Check reports each way s no longer matches l, at the line of the spec
// that differs.
func Check(s *spec.Spec, l *Lock) hcl.Diagnostics {
	var diags hcl.Diagnostics
	lockName := filepath.Base(l.File)
	differ := func(name, format string, args ...any) {
		diags = append(diags, &hcl.Diagnostic{
			Severity: hcl.DiagError,
			Summary:  "Spec differs from its lock",
			Detail: fmt.Sprintf(format, args...) + fmt.Sprintf(" To build from the spec as it is now, run `kenv lock --update %s` "+
				"(or `kenv up --update-lock`); to keep the locked build, change the spec back.", filepath.Base(s.File)),
			Subject: s.Range(name).Ptr(),
		})
	}
	value := func(name, here, locked string) {
		if here != locked {
			differ(name, "%s is %s here; %s locks %s.", name, here, lockName, locked)
		}
	}
	version, git, ref, path := SourceOf(s)
	value("kubernetes.version", quoteOrNone(version), quoteOrNone(l.Version))
	value("kubernetes.git", quoteOrNone(git), quoteOrNone(l.Git))
	value("kubernetes.ref", quoteOrNone(ref), quoteOrNone(l.Ref))
	value("kubernetes.path", quoteOrNone(path), quoteOrNone(l.Path))
	if pin := s.Kubernetes.Go; pin != "" {
		value("kubernetes.go", strconv.Quote(pin), strconv.Quote(l.Go))
	}
	b := s.Build
	value("build.debug", strconv.FormatBool(b.Unoptimized), strconv.FormatBool(l.Unoptimized))
	value("build.tags", listOrNone(b.Tags), listOrNone(l.Tags))
	value("build.gcflags", listOrNone(b.GCFlags), listOrNone(l.GCFlags))
	value("build.ldflags", listOrNone(b.LDFlags), listOrNone(l.LDFlags))
	if b.Unoptimized && l.Unoptimized { // an optimised build optimises every package
		value("build.optimize", listOrNone(b.Optimize), listOrNone(l.Optimize))
	}
	// A checkout built as it is has no binary hashes to compare.
	if s.Kubernetes.Path == "" {
		for _, c := range s.TreeComponents() {
			if _, ok := l.Binaries[c]; !ok {
				differ("component."+c, "%s runs here; %s locks no %s binary.", c, lockName, c)
			}
		}
		for _, bin := range b.Binaries {
			if _, ok := l.Binaries[bin]; !ok {
				differ("build.binaries", "build.binaries has %s here; %s locks no %s binary.", bin, lockName, bin)
			}
		}
	}
	for _, c := range s.Components {
		if c.Kubernetes != nil {
			continue // locked with its own source, below
		}
		switch {
		case kindOf(s, c.Name).Origin != spec.FromModule:
		case l.Installed[c.Name] == "":
			differ("component."+c.Name, "%s runs here; %s locks no %s release.", c.Name, lockName, c.Name)
		case c.Version != "":
			value("component."+c.Name+".version", strconv.Quote(c.Version), strconv.Quote(l.Installed[c.Name]))
		}
		d := s.Debugged(c.Name)
		switch {
		case d == nil:
		case l.Delve[c.Name] == "":
			differ("component."+c.Name, "%s runs under Delve here; %s locks no Delve release for it.", c.Name, lockName)
		case d.Dlv != "":
			value("component."+c.Name+".debug.dlv", strconv.Quote(d.Dlv), strconv.Quote(l.Delve[c.Name]))
		}
	}
	own := map[string]bool{}
	for _, t := range s.OwnTrees() {
		name := t.Components[0].Name
		own[name] = true
		if l.Components[name] == nil {
			differ("component."+name+".kubernetes", "%s is built from a source of its own here; %s locks none for it.", name, lockName)
			continue
		}
		diags = append(diags, Check(t, l.Components[name])...)
	}
	for _, name := range slices.Sorted(maps.Keys(l.Components)) {
		if !own[name] {
			differ("component."+name, "%s is built from the environment's source here; %s locks a source of its own for it.", name, lockName)
		}
	}
	return diags
}

func quoteOrNone(s string) string {
	if s == "" {
		return "none"
	}
	return strconv.Quote(s)
}

func listOrNone(list []string) string {
	if len(list) == 0 {
		return "none"
	}
	quoted := make([]string, len(list))
	for i, s := range list {
		quoted[i] = strconv.Quote(s)
	}
	return "[" + strings.Join(quoted, ", ") + "]"
}

func kindOf(s *spec.Spec, name string) spec.Kind {
	k, _ := s.Kinds.Find(name)
	return k
}
