package ide_test

import (
	"bytes"
	"encoding/json"
	"encoding/xml"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tailscale/hujson"

	"github.com/kenv-dev/kenv/env/ide"
)

var update = flag.Bool("update", false, "rewrite the golden files")

var targets = []ide.Target{
	{Env: "debug", Component: "kube-apiserver", Address: "127.0.0.1:2345"},
	{Env: "debug", Component: "kube-scheduler", Address: "127.0.0.1:2347"},
}

func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if string(got) != string(want) {
		t.Errorf("%s differs from the golden file:\n%s", name, got)
	}
}

type launch struct {
	Version        string `json:"version"`
	Configurations []struct {
		Name, Type, Request, Mode, Host string
		Port                            int
		SubstitutePath                  []ide.PathMapping
	} `json:"configurations"`
	Compounds []struct {
		Name           string
		Configurations []string
	} `json:"compounds"`
}

func parseLaunch(t *testing.T, raw []byte) launch {
	t.Helper()
	std, err := hujson.Standardize(bytes.Clone(raw)) // it works in place
	if err != nil {
		t.Fatal(err)
	}
	var l launch
	if err := json.Unmarshal(std, &l); err != nil {
		t.Fatal(err)
	}
	return l
}

func TestVSCodeNew(t *testing.T) {
	got, err := ide.VSCodeLaunch(nil, targets, []ide.PathMapping{
		{From: "${workspaceFolder}/staging/src/k8s.io/api", To: "k8s.io/api"},
		{From: "${workspaceFolder}", To: "k8s.io/kubernetes"},
		{From: "/go/toolchain/src", To: ""},
	})
	if err != nil {
		t.Fatal(err)
	}
	golden(t, "new-launch.json", got)
	l := parseLaunch(t, got)
	if len(l.Configurations) != 2 || len(l.Compounds) != 1 {
		t.Fatalf("%d configurations, %d compounds", len(l.Configurations), len(l.Compounds))
	}
	c := l.Configurations[0]
	if c.Name != "kenv: debug kube-apiserver" || c.Type != "go" || c.Request != "attach" || c.Mode != "remote" || c.Host != "127.0.0.1" || c.Port != 2345 {
		t.Errorf("configuration %+v", c)
	}
	if len(c.SubstitutePath) != 3 || c.SubstitutePath[1].To != "k8s.io/kubernetes" || c.SubstitutePath[2].To != "" {
		t.Errorf("substitutePath %+v", c.SubstitutePath)
	}
	if got := strings.Join(l.Compounds[0].Configurations, ","); got != "kenv: debug kube-apiserver,kenv: debug kube-scheduler" {
		t.Errorf("compound attaches to %s", got)
	}
}

func TestVSCodeMerge(t *testing.T) {
	existing, err := os.ReadFile("testdata/user-launch.json")
	if err != nil {
		t.Fatal(err)
	}
	got, err := ide.VSCodeLaunch(existing, targets, nil)
	if err != nil {
		t.Fatal(err)
	}
	golden(t, "merged-launch.json", got)
	for _, kept := range []string{"// The user's own configuration", "// trailing comment"} {
		if !strings.Contains(string(got), kept) {
			t.Errorf("the merge lost %q", kept)
		}
	}
	l := parseLaunch(t, got)
	var names []string
	ports := map[string]int{}
	for _, c := range l.Configurations {
		names = append(names, c.Name)
		ports[c.Name] = c.Port
	}
	want := "Launch my tool,kenv: other kube-apiserver,kenv: debug kube-apiserver,kenv: debug kube-scheduler"
	if strings.Join(names, ",") != want {
		t.Errorf("configurations %s, want %s", strings.Join(names, ","), want)
	}
	if ports["kenv: debug kube-apiserver"] != 2345 {
		t.Errorf("the earlier kenv entry was not replaced: port %d", ports["kenv: debug kube-apiserver"])
	}

	// Merging again changes nothing.
	again, err := ide.VSCodeLaunch(got, targets, nil)
	if err != nil {
		t.Fatal(err)
	}
	if string(again) != string(got) {
		t.Errorf("a second merge changed the file:\n%s", again)
	}
}

func TestVSCodeRejectsBrokenFile(t *testing.T) {
	if _, err := ide.VSCodeLaunch([]byte(`{"configurations": [`), targets, nil); err == nil {
		t.Error("a broken launch.json was overwritten")
	}
}

func TestGoLand(t *testing.T) {
	configs, err := ide.GoLand(targets)
	if err != nil {
		t.Fatal(err)
	}
	if len(configs) != 2 {
		t.Fatalf("%d configurations", len(configs))
	}
	golden(t, configs[0].File, configs[0].Content)
	var parsed struct {
		Name          string `xml:"name,attr"`
		Configuration struct {
			Name        string `xml:"name,attr"`
			Type        string `xml:"type,attr"`
			FactoryName string `xml:"factoryName,attr"`
			Host        string `xml:"host,attr"`
			Port        int    `xml:"port,attr"`
		} `xml:"configuration"`
	}
	if err := xml.Unmarshal(configs[1].Content, &parsed); err != nil {
		t.Fatal(err)
	}
	c := parsed.Configuration
	if parsed.Name != "ProjectRunConfigurationManager" || c.Type != "GoRemoteDebugConfigurationType" || c.FactoryName != "Go Remote" ||
		c.Host != "127.0.0.1" || c.Port != 2347 || c.Name != "kenv: debug kube-scheduler" {
		t.Errorf("run configuration %+v", parsed)
	}
	if configs[1].File != "kenv-debug-kube-scheduler.run.xml" {
		t.Errorf("file %s", configs[1].File)
	}
}
