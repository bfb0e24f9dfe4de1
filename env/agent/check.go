package agent

import (
	"cmp"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"

	"sigs.k8s.io/yaml"
)

// Found is what Check reads from the node without changing anything.
type Found struct {
	Component string `json:"component"`
	Manifest  string `json:"manifest"`
	Image     string `json:"image"`
	// Args are the flags the component will get: the container's
	// command[1:] and args, paths mapped to the host's.
	Args []string `json:"args"`
	// Env is KEY=value from the container's env; a value from a secret, a
	// config map or a field is skipped, with a note.
	Env []string `json:"env,omitempty"`
	// Ports are the host:port the component listens on, from its flags:
	// what must be free before the debug build starts.
	Ports []string `json:"ports"`
	// User is who the container runs as; nil for root.
	User *Credential `json:"user,omitempty"`
	// Unit is the systemd unit that runs the component (the kubelet's),
	// empty for a static pod.
	Unit string `json:"unit,omitempty"`
	// Health is the component's health check on the node's loopback.
	Health string `json:"health,omitempty"`
	// Swapped says a record of kenv's holds the manifest aside (or the
	// unit stopped): a session runs, or one died. Then the rest is read
	// from the saved copy.
	Swapped bool `json:"swapped"`
	// Notes are what was skipped, for the user.
	Notes []string `json:"notes,omitempty"`
}

// Credential is a user and its groups.
type Credential struct {
	UID    uint32   `json:"uid"`
	GID    uint32   `json:"gid"`
	Groups []uint32 `json:"groups,omitempty"`
}

func (c *Credential) sys() *syscall.Credential {
	if c == nil {
		return nil
	}
	return &syscall.Credential{Uid: c.UID, Gid: c.GID, Groups: c.Groups}
}

// Components are those the agent swaps, with the port each serves on when
// its flags do not say.
var defaultPort = map[string]int{
	"kube-apiserver":          6443,
	"kube-controller-manager": 10257,
	"kube-scheduler":          10259,
	Kubelet:                   10250,
}

// notSwapped refuses a component the agent does not swap.
func notSwapped(component string) error {
	return fmt.Errorf("kenv's agent swaps kube-apiserver, kube-controller-manager, kube-scheduler or the kubelet, not %q", component)
}

// Check reads what running component from manifest instead of the kubelet
// takes, and whether dir's record says the manifest is aside already. It
// changes nothing.
func Check(component, manifest, dir string) (Found, error) {
	f, _, _, err := check(component, manifest, dir)
	return f, err
}

// check is Check, with the record and the manifest's content it read.
func check(component, manifest, dir string) (Found, *record, []byte, error) {
	if err := checkRoot(); err != nil {
		return Found{}, nil, nil, err
	}
	if _, ok := defaultPort[component]; !ok {
		return Found{}, nil, nil, notSwapped(component)
	}
	rec, err := readRecord(paths{dir, component})
	if err != nil {
		return Found{}, nil, nil, err
	}
	var content []byte
	switch {
	case rec == nil && component == Kubelet:
		content, err = ReadKubelet(Local)
	case rec == nil:
		content, err = os.ReadFile(manifest)
		if errors.Is(err, fs.ErrNotExist) {
			err = fmt.Errorf("the node runs no static pod %s: %s does not exist (manifests here: %s)", component, manifest, listManifests(filepath.Dir(manifest)))
		}
	case rec.Manifest != manifest:
		err = fmt.Errorf("kenv put %s aside for %s, not %s: run `kenv agent restore --dir %s` first", rec.Manifest, component, manifest, dir)
	default:
		content, err = rec.content()
	}
	if err != nil {
		return Found{}, nil, nil, err
	}
	f, err := Parse(component, manifest, content)
	f.Swapped = rec != nil
	return f, rec, content, err
}

func checkRoot() error {
	if os.Geteuid() != 0 {
		return fmt.Errorf("kenv's agent runs as root on the node (it moves static pod manifests); connect as root or with sudo (it runs as uid %d)", os.Geteuid())
	}
	return nil
}

// listManifests names the files in dir the kubelet would read.
func listManifests(dir string) string {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return fmt.Sprintf("none, %v", err)
	}
	var names []string
	for _, e := range entries {
		if !e.IsDir() && !strings.HasPrefix(e.Name(), ".") {
			names = append(names, e.Name())
		}
	}
	if len(names) == 0 {
		return "none"
	}
	return strings.Join(names, ", ")
}

// pod is the part of a static pod's manifest the agent reads.
type pod struct {
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`
	Spec       struct {
		HostNetwork     bool             `json:"hostNetwork"`
		SecurityContext *securityContext `json:"securityContext"`
		Containers      []container      `json:"containers"`
		Volumes         []struct {
			Name     string `json:"name"`
			HostPath *struct {
				Path string `json:"path"`
			} `json:"hostPath"`
		} `json:"volumes"`
	} `json:"spec"`
}

type container struct {
	Name    string   `json:"name"`
	Image   string   `json:"image"`
	Command []string `json:"command"`
	Args    []string `json:"args"`
	Env     []struct {
		Name      string `json:"name"`
		Value     string `json:"value"`
		ValueFrom any    `json:"valueFrom"`
	} `json:"env"`
	VolumeMounts []struct {
		Name      string `json:"name"`
		MountPath string `json:"mountPath"`
		SubPath   string `json:"subPath"`
	} `json:"volumeMounts"`
	SecurityContext *securityContext `json:"securityContext"`
}

type securityContext struct {
	RunAsUser          *int64  `json:"runAsUser"`
	RunAsGroup         *int64  `json:"runAsGroup"`
	SupplementalGroups []int64 `json:"supplementalGroups"`
}

// inspect reads content, the manifest at path, as the static pod of
// component.
func inspect(component, path string, content []byte) (Found, error) {
	not := func(why string, args ...any) (Found, error) {
		return Found{}, fmt.Errorf("%s is not a static pod of %s: %s", path, component, fmt.Sprintf(why, args...))
	}
	var p pod
	if err := yaml.Unmarshal(content, &p); err != nil {
		return not("%v", err)
	}
	if p.Kind != "Pod" {
		return not("its kind is %q, not Pod", p.Kind)
	}
	if n := len(p.Spec.Containers); n != 1 {
		return not("it has %d containers, kenv swaps a pod of one", n)
	}
	c := p.Spec.Containers[0]
	var args []string
	switch {
	case len(c.Command) > 0 && filepath.Base(c.Command[0]) == component:
		args = append(slices.Clone(c.Command[1:]), c.Args...)
	case len(c.Command) == 0 && strings.Contains(imageName(c.Image), component):
		args = slices.Clone(c.Args)
	default:
		return not("its container runs %q from image %q", c.Command, c.Image)
	}
	if !p.Spec.HostNetwork {
		return not("it does not run in the host's network (hostNetwork is not true), so the component's ports are not the node's")
	}
	f := Found{Component: component, Manifest: path, Image: c.Image, Args: mapPaths(args, p.mounts())}
	for _, e := range c.Env {
		if e.ValueFrom != nil {
			f.Notes = append(f.Notes, fmt.Sprintf("env %s of %s comes from valueFrom, which the agent cannot read; the debug build runs without it", e.Name, path))
			continue
		}
		f.Env = append(f.Env, e.Name+"="+e.Value)
	}
	f.Ports = ports(component, f.Args)
	if len(f.Ports) > 0 {
		f.Health = "https://" + loopback(f.Ports[0]) + "/healthz"
	}
	f.User = user(p.Spec.SecurityContext, c.SecurityContext)
	return f, nil
}

// imageName is the image's repository without registry, tag or digest:
// "kube-apiserver" for registry.k8s.io/kube-apiserver:v1.34.1.
func imageName(image string) string {
	image, _, _ = strings.Cut(image, "@")
	name := image[strings.LastIndex(image, "/")+1:]
	name, _, _ = strings.Cut(name, ":")
	return name
}

// mount maps a path in the container to the host's.
type mount struct{ container, host string }

// mounts are the container's hostPath mounts at a path other than the
// host's, longest first so that the deepest applies.
func (p pod) mounts() []mount {
	hostPaths := map[string]string{}
	for _, v := range p.Spec.Volumes {
		if v.HostPath != nil {
			hostPaths[v.Name] = v.HostPath.Path
		}
	}
	var ms []mount
	for _, vm := range p.Spec.Containers[0].VolumeMounts {
		host, ok := hostPaths[vm.Name]
		if !ok {
			continue
		}
		m := mount{container: filepath.Clean(vm.MountPath), host: filepath.Clean(filepath.Join(host, vm.SubPath))}
		if m.container != m.host {
			ms = append(ms, m)
		}
	}
	slices.SortFunc(ms, func(a, b mount) int { return cmp.Compare(len(b.container), len(a.container)) })
	return ms
}

// mapPaths rewrites the paths in args, a flag's value after "=" or a whole
// argument, from the container's to the host's.
func mapPaths(args []string, ms []mount) []string {
	out := make([]string, len(args))
	for i, a := range args {
		if name, value, ok := strings.Cut(a, "="); ok && strings.HasPrefix(name, "-") {
			out[i] = name + "=" + mapPath(value, ms)
		} else {
			out[i] = mapPath(a, ms)
		}
	}
	return out
}

func mapPath(v string, ms []mount) string {
	for _, m := range ms {
		if v == m.container || strings.HasPrefix(v, m.container+"/") {
			return m.host + v[len(m.container):]
		}
	}
	return v
}

// flag returns the last value args give the flag name, in either
// --name=value or --name value form.
func flag(args []string, name string) (string, bool) {
	value, found := "", false
	for i, a := range args {
		switch {
		case a == "--"+name && i+1 < len(args):
			value, found = args[i+1], true
		case strings.HasPrefix(a, "--"+name+"="):
			value, found = strings.TrimPrefix(a, "--"+name+"="), true
		}
	}
	return value, found
}

// ports are the addresses the component serves on, from its
// --secure-port and --bind-address; none when the port is 0.
func ports(component string, args []string) []string {
	port := strconv.Itoa(defaultPort[component])
	if p, ok := flag(args, "secure-port"); ok {
		port = p
	}
	if port == "0" {
		return nil
	}
	host, _ := flag(args, "bind-address")
	if host == "" {
		host = "0.0.0.0"
	}
	return []string{net.JoinHostPort(host, port)}
}

// user is who the container runs as: the container's security context
// over the pod's; nil for root.
func user(podSC, containerSC *securityContext) *Credential {
	var uid, gid *int64
	var groups []uint32
	for _, sc := range []*securityContext{podSC, containerSC} {
		if sc == nil {
			continue
		}
		uid = cmp.Or(sc.RunAsUser, uid)
		gid = cmp.Or(sc.RunAsGroup, gid)
	}
	if podSC != nil {
		for _, g := range podSC.SupplementalGroups {
			groups = append(groups, uint32(g))
		}
	}
	c := &Credential{Groups: groups}
	if uid != nil {
		c.UID = uint32(*uid)
	}
	if gid != nil {
		c.GID = uint32(*gid)
	}
	if c.UID == 0 && c.GID == 0 && len(c.Groups) == 0 {
		return nil
	}
	return c
}

// Parse reads content, the manifest at path on the node or what
// ReadKubelet read, as Check does: kenv reads it from afar, before
// anything of its own is on the node.
func Parse(component, path string, content []byte) (Found, error) {
	switch _, ok := defaultPort[component]; {
	case !ok:
		return Found{}, notSwapped(component)
	case component == Kubelet:
		return inspectKubelet(content)
	}
	return inspect(component, path, content)
}

// Aside is where the agent in dir keeps what it took component's place
// from while it is swapped: the manifest, or what the kubelet's unit ran.
func Aside(dir, component, manifest string) string {
	name := filepath.Base(manifest)
	if component == Kubelet {
		name = KubeletUnit + ".json"
	}
	return filepath.Join(paths{dir, component}.aside(), name)
}
