package spec

import (
	"fmt"
	"maps"
	"regexp"
	"slices"
	"strconv"

	"github.com/hashicorp/hcl/v2"
)

// Emulation is the compatibility version a control-plane component runs
// at (KEP-4330): the Kubernetes release whose APIs and features it
// serves, and the oldest release it stays compatible with. Empty fields
// leave the binary's own.
type Emulation struct {
	// Version is --emulated-version's kube=, "1.33".
	Version string
	// MinCompatibility is --min-compatibility-version's kube=, "1.32".
	MinCompatibility string
	// SetAt says where the spec sets each, by attribute: the key of
	// Spec.Range, "kubernetes.emulated_version" (the environment's) or
	// "component.NAME.emulated_version".
	SetAt map[string]string `json:"-"`
}

// The attributes an Emulation is read from, on the kubernetes block and
// on the components of kinds that take them.
const (
	EmulatedVersion         = "emulated_version"
	MinCompatibilityVersion = "min_compatibility_version"
)

var emulationRE = regexp.MustCompile(`^1\.(\d+)$`)

// What the releases take, from their k8s.io/apiserver and
// k8s.io/component-base: --emulated-version came with 1.31, where it
// must equal the binary's own; 1.32 emulates one release back; from 1.33
// on, three, never before 1.31. --min-compatibility-version came with
// 1.35, between that floor and the emulated version.
const (
	emulationSince        = 31
	minCompatibilitySince = 35
)

// emulationFloor is the oldest minor a binary of minor n emulates.
func emulationFloor(n int) int {
	switch {
	case n <= emulationSince:
		return n
	case n == emulationSince+1:
		return n - 1
	}
	return max(n-3, emulationSince)
}

// An EmulationError says which of a component's emulation attributes its
// binary does not take, and why.
type EmulationError struct {
	Attribute string
	Reason    string
}

func (e *EmulationError) Error() string { return e.Reason }

// CheckEmulation says what the kube-... binary of component name, at
// binaryVersion ("v1.34.4"), does not take of e; nil when it takes it
// all, or when binaryVersion is not a release's (a checkout not yet at
// hand is checked once it is).
func CheckEmulation(name, binaryVersion string, e Emulation) error {
	n, ok := minorOf(binaryVersion)
	if !ok || e.Version == "" && e.MinCompatibility == "" {
		return nil
	}
	if e.Version != "" {
		v := minorOfEmulation(e.Version)
		switch floor := emulationFloor(n); {
		case n < emulationSince:
			return &EmulationError{EmulatedVersion, fmt.Sprintf("%s %s has no --emulated-version: emulated versions came with Kubernetes 1.%d. Build a release from 1.%d on, or remove %s.",
				name, binaryVersion, emulationSince, emulationSince+2, EmulatedVersion)}
		case v > n:
			return &EmulationError{EmulatedVersion, fmt.Sprintf("%s %s cannot emulate 1.%d, a newer release: a binary emulates its own release or older ones. Build 1.%d or newer, or emulate 1.%d to 1.%d.",
				name, binaryVersion, v, v, floor, n)}
		case v < floor && floor == n:
			return &EmulationError{EmulatedVersion, fmt.Sprintf("%s %s emulates only its own release, 1.%d (emulated versions were alpha in 1.%d). Build 1.%d or newer to emulate 1.%d.",
				name, binaryVersion, n, n, v+3, v)}
		case v < floor:
			return &EmulationError{EmulatedVersion, fmt.Sprintf("%s %s emulates 1.%d to 1.%d, not 1.%d. Build an older release to run 1.%d, or emulate 1.%d or newer.",
				name, binaryVersion, floor, n, v, v, floor)}
		}
	}
	if e.MinCompatibility != "" {
		m, emulated := minorOfEmulation(e.MinCompatibility), n
		if e.Version != "" {
			emulated = minorOfEmulation(e.Version)
		}
		switch floor := emulationFloor(n); {
		case n < minCompatibilitySince:
			return &EmulationError{MinCompatibilityVersion, fmt.Sprintf("%s %s has no --min-compatibility-version: it came with Kubernetes 1.%d, and 1.%d keeps compatibility with the release before the one it runs. Remove %s.",
				name, binaryVersion, minCompatibilitySince, n, MinCompatibilityVersion)}
		case m > emulated:
			return &EmulationError{MinCompatibilityVersion, fmt.Sprintf("%s cannot stay compatible with 1.%d, newer than the 1.%d it runs as. Set %s to 1.%d or older.",
				name, m, emulated, MinCompatibilityVersion, emulated)}
		case m < floor:
			return &EmulationError{MinCompatibilityVersion, fmt.Sprintf("%s %s stays compatible with 1.%d at the oldest, not 1.%d. Set %s to 1.%d to 1.%d.",
				name, binaryVersion, floor, m, MinCompatibilityVersion, floor, emulated)}
		}
	}
	return nil
}

func minorOfEmulation(v string) int {
	m := emulationRE.FindStringSubmatch(v)
	if m == nil {
		return -1
	}
	n, _ := strconv.Atoi(m[1])
	return n
}

// emulationSchema is what the kubernetes block and a component say of
// their emulation, as gohcl decoded it.
type emulationSchema struct {
	Version, MinCompatibility     *string
	VersionAt, MinCompatibilityAt hcl.Range
}

// decodeEmulation decodes the emulation attributes set at prefix
// ("kubernetes", "component.NAME"), on top of inherited.
func (d *decoder) decodeEmulation(raw emulationSchema, prefix string, inherited Emulation) Emulation {
	e := inherited
	e.SetAt = maps.Clone(inherited.SetAt)
	for _, a := range []struct {
		v    *string
		at   hcl.Range
		name string
		to   *string
	}{{raw.Version, raw.VersionAt, EmulatedVersion, &e.Version}, {raw.MinCompatibility, raw.MinCompatibilityAt, MinCompatibilityVersion, &e.MinCompatibility}} {
		if a.v == nil {
			continue
		}
		if !emulationRE.MatchString(*a.v) {
			d.errorf(a.at, "Invalid "+a.name, "%q is not a Kubernetes minor release; write it like \"1.33\".", *a.v)
			continue
		}
		key := prefix + "." + a.name
		if _, noted := d.ranges[key]; !noted {
			d.ranges[key] = a.at
		}
		if e.SetAt == nil {
			e.SetAt = map[string]string{}
		}
		*a.to, e.SetAt[a.name] = *a.v, key
	}
	return e
}

// componentEmulation decodes a component's emulation, on top of the
// kubernetes block's when its kind takes --emulated-version.
func (d *decoder) componentEmulation(raw *componentSchema, kind Kind, c *Component) {
	if !slices.Contains(kind.Takes, EmulatedVersion) {
		for _, a := range []struct {
			set  bool
			at   hcl.Range
			name string
		}{{raw.EmulatedVersion != nil, raw.EmulatedVersionRange, EmulatedVersion}, {raw.MinCompatibilityVersion != nil, raw.MinCompatibilityVersionRange, MinCompatibilityVersion}} {
			if a.set {
				d.unsupported(a.at, a.name)
			}
		}
		return
	}
	c.Emulation = d.decodeEmulation(emulationSchema{raw.EmulatedVersion, raw.MinCompatibilityVersion,
		raw.EmulatedVersionAt, raw.MinCompatibilityVersionAt}, "component."+raw.Name, d.emulation)
}

// checkEmulation refuses what the binaries of the components that
// emulate a release do not take, where their release is known from the
// spec; other sources are checked once their trees are at hand
// (CheckEmulation).
func (d *decoder) checkEmulation(s *Spec) {
	for _, c := range s.Components {
		version := s.Kubernetes.Version
		if c.Kubernetes != nil {
			version = c.Kubernetes.Version
		}
		// The kubernetes block's, once for the components that take it.
		if err := CheckEmulation(c.Name, version, c.Emulation); err != nil && !d.failed(s.EmulationRange(c, err)) {
			d.errorf(s.EmulationRange(c, err), "Emulated version not supported", "%v", err)
		}
	}
}

// EmulationRange is where the spec sets the emulation attribute of c that
// err, an EmulationError, is about.
func (s *Spec) EmulationRange(c Component, err error) hcl.Range {
	attribute := EmulatedVersion
	if e, ok := err.(*EmulationError); ok {
		attribute = e.Attribute
	}
	return s.Range(c.Emulation.SetAt[attribute])
}
