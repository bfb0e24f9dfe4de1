package build

import (
	"crypto/sha256"
	"debug/buildinfo"
	"encoding/hex"
	"fmt"
	"maps"
	"slices"
	"strings"
)

// Provenance is what a binary records of how it was built, as
// `go version -m` shows it: the toolchain, the build settings (flags, tags,
// GOOS, GOARCH, CGO_ENABLED, …) and the modules it was built from.
type Provenance struct {
	GoVersion string
	Settings  map[string]string
	// Modules digests the module paths, versions and hashes.
	Modules string
}

// ReadProvenance reads the provenance of the binary at path, built for r.
func ReadProvenance(path string, r Request) (Provenance, error) {
	info, err := buildinfo.ReadFile(path)
	if err != nil {
		return Provenance{}, fmt.Errorf("read the build information of %s: %w", path, err)
	}
	p := Provenance{GoVersion: info.GoVersion, Settings: map[string]string{}}
	for _, s := range info.Settings {
		p.Settings[s.Key] = s.Value
	}
	// A -trimpath build leaves -ldflags out of its build information (they
	// may hold paths); they are the request's, and they hold the version
	// and build date.
	if _, ok := p.Settings["-ldflags"]; !ok {
		p.Settings["-ldflags"] = ldflags(r)
	}
	h := sha256.New()
	for _, d := range info.Deps {
		fmt.Fprintln(h, d.Path, d.Version, d.Sum)
		if r := d.Replace; r != nil {
			fmt.Fprintln(h, "=>", r.Path, r.Version, r.Sum)
		}
	}
	p.Modules = hex.EncodeToString(h.Sum(nil))[:16]
	return p, nil
}

// Differences says how got differs from want, one phrase each, for a
// person to see which input of the build changed.
func (want Provenance) Differences(got Provenance) []string {
	var d []string
	if got.GoVersion != want.GoVersion {
		d = append(d, fmt.Sprintf("built by %s, locked %s", got.GoVersion, want.GoVersion))
	}
	keys := slices.Sorted(maps.Keys(want.Settings))
	for k := range got.Settings {
		if _, ok := want.Settings[k]; !ok {
			keys = append(keys, k)
		}
	}
	for _, k := range keys {
		if g, w := got.Settings[k], want.Settings[k]; g != w {
			g, w = differingWords(g, w)
			d = append(d, fmt.Sprintf("build setting %s has %q, locked %q", k, g, w))
		}
	}
	if got.Modules != want.Modules {
		d = append(d, fmt.Sprintf("module versions and hashes digest to %s, locked %s (`go version -m` lists them)", got.Modules, want.Modules))
	}
	return d
}

// differingWords shortens two long settings, such as -ldflags, to the
// words in which they differ.
func differingWords(a, b string) (string, string) {
	aw, bw := strings.Fields(a), strings.Fields(b)
	if len(aw) < 3 || len(bw) < 3 {
		return a, b
	}
	only := func(words, other []string) string {
		var out []string
		for _, w := range words {
			if !slices.Contains(other, w) {
				out = append(out, w)
			}
		}
		return strings.Join(out, " ")
	}
	return only(aw, bw), only(bw, aw)
}
