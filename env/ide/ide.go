// Package ide writes debugger attach configurations for editors: VS Code's
// launch.json and GoLand's "Go Remote" run configurations.
package ide

import (
	"bytes"
	"encoding/json"
	"encoding/xml"
	"fmt"
	"net"
	"strconv"
	"strings"

	"github.com/tailscale/hujson"
)

// Target is a component that Delve serves.
type Target struct {
	// Env and Component name the configuration.
	Env       string
	Component string
	// Address is Delve's host:port.
	Address string
	// Mappings, when set, map this component's files instead of the
	// mappings every target shares: it is built from a source of its own.
	Mappings []PathMapping
}

// Name is the configuration's name in the editor.
func (t Target) Name() string { return "kenv: " + t.Env + " " + t.Component }

func (t Target) hostPort() (string, int, error) {
	host, port, err := net.SplitHostPort(t.Address)
	if err != nil {
		return "", 0, err
	}
	p, err := strconv.Atoi(port)
	return host, p, err
}

// PathMapping is one of VS Code's substitutePath entries: From is a local
// directory, To the name the binary gives its files (the reverse of
// Delve's own substitute-path).
type PathMapping struct {
	From string `json:"from"`
	To   string `json:"to"`
}

type launchConfig struct {
	Name           string        `json:"name"`
	Type           string        `json:"type"`
	Request        string        `json:"request"`
	Mode           string        `json:"mode"`
	Host           string        `json:"host"`
	Port           int           `json:"port"`
	SubstitutePath []PathMapping `json:"substitutePath,omitempty"`
}

type compound struct {
	Name           string   `json:"name"`
	Configurations []string `json:"configurations"`
}

// VSCodeLaunch merges attach configurations for targets, one per target and
// a compound that attaches to all, into existing, the content of a
// launch.json (JSON with comments; empty for none). The user's own entries
// and comments are kept; kenv's earlier entries for the same environment
// are replaced.
func VSCodeLaunch(existing []byte, targets []Target, mappings []PathMapping) ([]byte, error) {
	if len(bytes.TrimSpace(existing)) == 0 {
		existing = []byte("{\n\t\"version\": \"0.2.0\",\n\t\"configurations\": [\n\t],\n}\n")
	}
	v, err := hujson.Parse(bytes.Clone(existing))
	if err != nil {
		return nil, fmt.Errorf("launch.json is not valid JSON: %w", err)
	}
	var doc struct {
		Configurations []struct{ Name string } `json:"configurations"`
		Compounds      []struct{ Name string } `json:"compounds"`
	}
	// Standardize works in place, so on a copy of the input.
	std, err := hujson.Standardize(bytes.Clone(existing))
	if err != nil {
		return nil, fmt.Errorf("launch.json is not valid JSON: %w", err)
	}
	if err := json.Unmarshal(std, &doc); err != nil {
		return nil, fmt.Errorf("launch.json: %w", err)
	}
	if len(targets) == 0 {
		return nil, fmt.Errorf("no component runs under Delve")
	}
	prefix := "kenv: " + targets[0].Env + " "
	var ops []map[string]any
	if v.Find("/configurations") == nil {
		ops = append(ops, map[string]any{"op": "add", "path": "/configurations", "value": []any{}})
	}
	if v.Find("/compounds") == nil && len(targets) > 1 {
		ops = append(ops, map[string]any{"op": "add", "path": "/compounds", "value": []any{}})
	}
	// Remove kenv's earlier entries, last first so indexes stay valid.
	for i := len(doc.Configurations) - 1; i >= 0; i-- {
		if strings.HasPrefix(doc.Configurations[i].Name, prefix) {
			ops = append(ops, map[string]any{"op": "remove", "path": fmt.Sprintf("/configurations/%d", i)})
		}
	}
	for i := len(doc.Compounds) - 1; i >= 0; i-- {
		if strings.HasPrefix(doc.Compounds[i].Name, prefix) {
			ops = append(ops, map[string]any{"op": "remove", "path": fmt.Sprintf("/compounds/%d", i)})
		}
	}
	all := compound{Name: prefix + "all"}
	for _, t := range targets {
		host, port, err := t.hostPort()
		if err != nil {
			return nil, fmt.Errorf("%s: Delve address %q: %w", t.Component, t.Address, err)
		}
		cfg := launchConfig{Name: t.Name(), Type: "go", Request: "attach", Mode: "remote", Host: host, Port: port, SubstitutePath: mappings}
		if t.Mappings != nil {
			cfg.SubstitutePath = t.Mappings
		}
		ops = append(ops, map[string]any{"op": "add", "path": "/configurations/-", "value": cfg})
		all.Configurations = append(all.Configurations, t.Name())
	}
	if len(targets) > 1 {
		ops = append(ops, map[string]any{"op": "add", "path": "/compounds/-", "value": all})
	}
	patch, err := json.Marshal(ops)
	if err != nil {
		return nil, err
	}
	if err := v.Patch(patch); err != nil {
		return nil, fmt.Errorf("update launch.json: %w", err)
	}
	v.Format()
	return v.Pack(), nil
}

// GoLandConfig is a GoLand run configuration file, .run/<File>.
type GoLandConfig struct {
	File    string
	Content []byte
}

type runConfigFile struct {
	XMLName       xml.Name         `xml:"component"`
	Name          string           `xml:"name,attr"`
	Configuration goRemoteSettings `xml:"configuration"`
}

type goRemoteSettings struct {
	Default     bool   `xml:"default,attr"`
	Name        string `xml:"name,attr"`
	Type        string `xml:"type,attr"`
	FactoryName string `xml:"factoryName,attr"`
	Host        string `xml:"host,attr"`
	Port        int    `xml:"port,attr"`
	Option      struct {
		Name  string `xml:"name,attr"`
		Value string `xml:"value,attr"`
	} `xml:"option"`
	Disconnect struct {
		Value string `xml:"value,attr"`
	} `xml:"disconnect"`
	Method struct {
		V string `xml:"v,attr"`
	} `xml:"method"`
}

// GoLand returns one "Go Remote" run configuration per target. Detaching
// leaves the component running.
func GoLand(targets []Target) ([]GoLandConfig, error) {
	var out []GoLandConfig
	for _, t := range targets {
		host, port, err := t.hostPort()
		if err != nil {
			return nil, fmt.Errorf("%s: Delve address %q: %w", t.Component, t.Address, err)
		}
		f := runConfigFile{Name: "ProjectRunConfigurationManager", Configuration: goRemoteSettings{
			Name: t.Name(), Type: "GoRemoteDebugConfigurationType", FactoryName: "Go Remote", Host: host, Port: port,
		}}
		f.Configuration.Option.Name, f.Configuration.Option.Value = "disconnectOption", "LEAVE"
		f.Configuration.Disconnect.Value = "LEAVE"
		f.Configuration.Method.V = "2"
		raw, err := xml.MarshalIndent(f, "", "  ")
		if err != nil {
			return nil, err
		}
		out = append(out, GoLandConfig{File: "kenv-" + t.Env + "-" + t.Component + ".run.xml", Content: append(raw, '\n')})
	}
	return out, nil
}
