package agent

import (
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// kubeadm is the manifest kubeadm v1.34 writes for the kube-apiserver.
func kubeadm(t *testing.T) string {
	t.Helper()
	raw, err := os.ReadFile("testdata/kube-apiserver.yaml")
	if err != nil {
		t.Fatal(err)
	}
	return string(raw)
}

func needRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("the agent runs as root (it moves static pod manifests); run the tests as root")
	}
}

// snapshot is what a directory tree holds, to see that nothing changed.
func snapshot(t *testing.T, root string) map[string]string {
	t.Helper()
	files := map[string]string{}
	_ = filepath.WalkDir(root, func(path string, d os.DirEntry, err error) error {
		if err != nil {
			return nil
		}
		raw, _ := os.ReadFile(path)
		files[path] = d.Type().String() + string(raw)
		return nil
	})
	return files
}

func TestCheckKubeadm(t *testing.T) {
	needRoot(t)
	root := t.TempDir()
	manifest := filepath.Join(root, "manifests", "kube-apiserver.yaml")
	os.MkdirAll(filepath.Dir(manifest), 0o700)
	if err := os.WriteFile(manifest, []byte(kubeadm(t)), 0o600); err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(root, "kenv")
	f, err := Check("kube-apiserver", manifest, dir)
	if err != nil {
		t.Fatal(err)
	}
	if f.Component != "kube-apiserver" || f.Manifest != manifest || f.Image != "registry.k8s.io/kube-apiserver:v1.34.1" || f.Swapped || f.User != nil {
		t.Errorf("found %+v", f)
	}
	if len(f.Args) != 28 || f.Args[0] != "--advertise-address=172.18.0.2" || !slices.Contains(f.Args, "--client-ca-file=/etc/kubernetes/pki/ca.crt") {
		t.Errorf("args %q", f.Args)
	}
	if !slices.Equal(f.Ports, []string{"0.0.0.0:6443"}) {
		t.Errorf("ports %q", f.Ports)
	}
	if _, err := os.Stat(dir); err == nil {
		t.Errorf("Check made %s", dir)
	}
}

func TestCheckRefuses(t *testing.T) {
	needRoot(t)
	good := kubeadm(t)
	for _, tt := range []struct {
		name, component, manifest, want string
	}{
		{"missing", "kube-apiserver", "", "the node runs no static pod kube-apiserver: "},
		{"not a pod", "kube-apiserver", strings.Replace(good, "kind: Pod", "kind: Deployment", 1), `its kind is "Deployment", not Pod`},
		{"another component", "kube-scheduler", good, "is not a static pod of kube-scheduler: its container runs"},
		{"two containers", "kube-apiserver", strings.Replace(good, "  hostNetwork: true", "  - name: sidecar\n    image: busybox\n  hostNetwork: true", 1), "it has 2 containers"},
		{"not host network", "kube-apiserver", strings.Replace(good, "hostNetwork: true", "hostNetwork: false", 1), "hostNetwork is not true"},
		{"not yaml", "kube-apiserver", "kind: [", "is not a static pod of kube-apiserver"},
		{"unknown component", "etcd", good, `not "etcd"`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			root := t.TempDir()
			manifests := filepath.Join(root, "manifests")
			os.MkdirAll(manifests, 0o700)
			os.WriteFile(filepath.Join(manifests, "etcd.yaml"), []byte("kind: Pod\n"), 0o600)
			manifest := filepath.Join(manifests, "kube-apiserver.yaml")
			if tt.manifest != "" {
				os.WriteFile(manifest, []byte(tt.manifest), 0o600)
			}
			before := snapshot(t, root)
			_, err := Check(tt.component, manifest, filepath.Join(root, "kenv"))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %v, want %q", err, tt.want)
			}
			if tt.name == "missing" && !strings.Contains(err.Error(), "(manifests here: etcd.yaml)") {
				t.Errorf("error %v does not list the manifests there", err)
			}
			if after := snapshot(t, root); !maps.Equal(before, after) {
				t.Errorf("Check changed %s", root)
			}
		})
	}
}

func TestInspectMapsPaths(t *testing.T) {
	// minikube-like: the certificates are elsewhere on the host than in
	// the container, and one file is mounted at a subPath.
	m := strings.Replace(kubeadm(t), "      path: /etc/kubernetes/pki\n", "      path: /var/lib/minikube/certs\n", 1)
	m = strings.Replace(m, "    - mountPath: /etc/ssl/certs\n", "    - mountPath: /etc/audit/policy.yaml\n      name: audit\n      subPath: policy.yaml\n    - mountPath: /etc/ssl/certs\n", 1)
	m = strings.Replace(m, "  volumes:\n", "  volumes:\n  - hostPath:\n      path: /srv/audit\n    name: audit\n", 1)
	m = strings.Replace(m, "    - --advertise-address=172.18.0.2\n", "    - --advertise-address=172.18.0.2\n    - --audit-policy-file\n    - /etc/audit/policy.yaml\n    - --oidc-ca-file=/etc/kubernetes/pki2/ca.crt\n    - --cert-dir=/etc/kubernetes/pki\n", 1)
	f, err := inspect("kube-apiserver", "/etc/kubernetes/manifests/kube-apiserver.yaml", []byte(m))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"--client-ca-file=/var/lib/minikube/certs/ca.crt",
		"--etcd-cafile=/var/lib/minikube/certs/etcd/ca.crt",
		"--cert-dir=/var/lib/minikube/certs",
		"/srv/audit/policy.yaml",
		"--oidc-ca-file=/etc/kubernetes/pki2/ca.crt", // not under the mount
		"--etcd-servers=https://127.0.0.1:2379",
	} {
		if !slices.Contains(f.Args, want) {
			t.Errorf("args lack %q: %q", want, f.Args)
		}
	}
}

func TestInspectByImage(t *testing.T) {
	// A container that runs its image's entrypoint, with flags as args.
	m := `kind: Pod
spec:
  hostNetwork: true
  containers:
  - name: kube-scheduler
    image: registry.k8s.io/kube-scheduler:v1.34.1@sha256:abc
    args: ["--bind-address=127.0.0.1", "--kubeconfig=/etc/kubernetes/scheduler.conf"]
    env:
    - name: GODEBUG
      value: x509sha1=1
    - name: NODE
      valueFrom: {fieldRef: {fieldPath: spec.nodeName}}
`
	f, err := inspect("kube-scheduler", "/m.yaml", []byte(m))
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(f.Args, []string{"--bind-address=127.0.0.1", "--kubeconfig=/etc/kubernetes/scheduler.conf"}) ||
		!slices.Equal(f.Env, []string{"GODEBUG=x509sha1=1"}) || len(f.Notes) != 1 || !strings.Contains(f.Notes[0], "NODE") ||
		!slices.Equal(f.Ports, []string{"127.0.0.1:10259"}) {
		t.Errorf("found %+v", f)
	}
}

func TestPorts(t *testing.T) {
	for _, tt := range []struct {
		component string
		args      []string
		want      []string
	}{
		{"kube-apiserver", nil, []string{"0.0.0.0:6443"}},
		{"kube-apiserver", []string{"--secure-port=8443", "--bind-address=::"}, []string{"[::]:8443"}},
		{"kube-apiserver", []string{"--secure-port", "7443", "--bind-address", "10.0.0.1"}, []string{"10.0.0.1:7443"}},
		{"kube-controller-manager", []string{"--bind-address=127.0.0.1"}, []string{"127.0.0.1:10257"}},
		{"kube-controller-manager", []string{"--secure-port=0"}, nil},
		{"kube-scheduler", []string{"--secure-port=1", "--secure-port=10300"}, []string{"0.0.0.0:10300"}},
	} {
		if got := ports(tt.component, tt.args); !slices.Equal(got, tt.want) {
			t.Errorf("ports(%s, %q) = %q, want %q", tt.component, tt.args, got, tt.want)
		}
	}
}

func TestUser(t *testing.T) {
	i := func(v int64) *int64 { return &v }
	for _, tt := range []struct {
		pod, container *securityContext
		want           *Credential
	}{
		{nil, nil, nil},
		{&securityContext{RunAsUser: i(0)}, nil, nil},
		{&securityContext{RunAsUser: i(2000), RunAsGroup: i(2000), SupplementalGroups: []int64{2001}}, nil, &Credential{UID: 2000, GID: 2000, Groups: []uint32{2001}}},
		{&securityContext{RunAsUser: i(2000), RunAsGroup: i(2000)}, &securityContext{RunAsUser: i(2002)}, &Credential{UID: 2002, GID: 2000}},
	} {
		got := user(tt.pod, tt.container)
		if (got == nil) != (tt.want == nil) || got != nil && (got.UID != tt.want.UID || got.GID != tt.want.GID || !slices.Equal(got.Groups, tt.want.Groups)) {
			t.Errorf("user(%+v, %+v) = %+v, want %+v", tt.pod, tt.container, got, tt.want)
		}
	}
}

// kubeletNode answers ReadKubelet's reads as a kubeadm node whose systemd
// runs the kubelet, with what changes in each case.
func kubeletNode(init, show string) Runner {
	files := map[string]string{
		"/proc/1/comm": init + "\n",
		"/proc/812/cmdline": "/usr/bin/kubelet\x00--bootstrap-kubeconfig=/etc/kubernetes/bootstrap-kubelet.conf\x00--kubeconfig=/etc/kubernetes/kubelet.conf\x00" +
			"--config=/var/lib/kubelet/config.yaml\x00--container-runtime-endpoint=unix:///run/containerd/containerd.sock\x00--healthz-port=10249\x00",
		"/proc/812/environ":            "LANG=C.UTF-8\x00PATH=/usr/local/bin:/usr/bin\x00KUBELET_EXTRA_ARGS=\x00",
		"/var/lib/kubelet/config.yaml": "apiVersion: kubelet.config.k8s.io/v1beta1\nkind: KubeletConfiguration\naddress: 10.0.0.5\nport: 10350\nhealthzBindAddress: 0.0.0.0\nhealthzPort: 10248\n",
	}
	return func(argv ...string) ([]byte, error) {
		switch {
		case argv[0] == "cat" && files[argv[1]] != "":
			return []byte(files[argv[1]]), nil
		case argv[0] == "systemctl" && argv[1] == "show":
			return []byte(show), nil
		}
		return nil, os.ErrNotExist
	}
}

func TestReadKubelet(t *testing.T) {
	content, err := ReadKubelet(kubeletNode("systemd", "MainPID=812\nActiveState=active\nLoadState=loaded\n"))
	if err != nil {
		t.Fatal(err)
	}
	f, err := Parse(Kubelet, "", content)
	if err != nil {
		t.Fatal(err)
	}
	if f.Unit != KubeletUnit || f.Image != "/usr/bin/kubelet" || len(f.Args) != 5 || f.Args[2] != "--config=/var/lib/kubelet/config.yaml" {
		t.Errorf("found %+v", f)
	}
	if !slices.Equal(f.Env, []string{"LANG=C.UTF-8", "PATH=/usr/local/bin:/usr/bin", "KUBELET_EXTRA_ARGS="}) {
		t.Errorf("env %q", f.Env)
	}
	// The flag wins over the config file, which wins over the default.
	if !slices.Equal(f.Ports, []string{"10.0.0.5:10350", "0.0.0.0:10249"}) || f.Health != "http://127.0.0.1:10249/healthz" {
		t.Errorf("ports %q, health %q", f.Ports, f.Health)
	}
}

func TestReadKubeletRefuses(t *testing.T) {
	for _, tt := range []struct{ name, init, show, want string }{
		{"no systemd", "tini", "", "the node's init (pid 1) is tini, not systemd: kenv swaps a kubelet that systemd runs from kubelet.service"},
		{"no unit", "systemd", "MainPID=0\nActiveState=inactive\nLoadState=not-found\n", "systemd has no kubelet.service on the node (not-found)"},
		{"stopped", "systemd", "MainPID=0\nActiveState=failed\nLoadState=loaded\n", "kubelet.service is failed on the node: kenv swaps a running kubelet; start it"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ReadKubelet(kubeletNode(tt.init, tt.show))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("got %v, want %q", err, tt.want)
			}
		})
	}
}
