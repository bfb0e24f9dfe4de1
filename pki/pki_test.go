package pki_test

import (
	"crypto/x509"
	"net"
	"os"
	"slices"
	"sort"
	"testing"

	"k8s.io/client-go/tools/clientcmd"

	"github.com/kenv-dev/kenv/pki"
)

var apiHosts = []string{"localhost", "127.0.0.1", "10.0.0.1", "kubernetes", "kubernetes.default",
	"kubernetes.default.svc", "kubernetes.default.svc.cluster", "kubernetes.default.svc.cluster.local"}

var localHosts = []string{"localhost", "127.0.0.1"}

// controlPlane is the certificates of kube-apiserver, the
// controller-manager and the scheduler, as their kinds ask for them.
func controlPlane(apiHosts []string) []pki.Leaf {
	return append(pki.ControlPlaneLeaves(apiHosts),
		pki.ServingLeaf(pki.ControllerServing, "kube-controller-manager", localHosts),
		pki.ClientLeaf(pki.ControllerClient, "system:kube-controller-manager"),
		pki.ServingLeaf(pki.SchedulerServing, "kube-scheduler", localHosts),
		pki.ClientLeaf(pki.SchedulerClient, "system:kube-scheduler"))
}

func TestControlPlaneSet(t *testing.T) {
	dir := t.TempDir()
	leaves := controlPlane(apiHosts)
	report, err := pki.Ensure(dir, leaves)
	if err != nil {
		t.Fatal(err)
	}
	if len(report.Reused) != 0 || len(report.Generated) != len(pki.CAs)+len(leaves)+1 {
		t.Errorf("first run: %+v", report)
	}

	want := map[string]struct {
		ca    string
		cn    string
		org   []string
		usage x509.ExtKeyUsage
	}{
		pki.APIServerServing:  {pki.ServerCA, "kubernetes.default", nil, x509.ExtKeyUsageServerAuth},
		pki.ControllerServing: {pki.ServerCA, "kube-controller-manager", nil, x509.ExtKeyUsageServerAuth},
		pki.SchedulerServing:  {pki.ServerCA, "kube-scheduler", nil, x509.ExtKeyUsageServerAuth},
		pki.AdminClient:       {pki.ClientCA, "system:admin", []string{"system:masters"}, x509.ExtKeyUsageClientAuth},
		pki.ControllerClient:  {pki.ClientCA, "system:kube-controller-manager", nil, x509.ExtKeyUsageClientAuth},
		pki.SchedulerClient:   {pki.ClientCA, "system:kube-scheduler", nil, x509.ExtKeyUsageClientAuth},
		pki.KubeletClient:     {pki.ClientCA, "kube-apiserver", nil, x509.ExtKeyUsageClientAuth},
		pki.AuthProxyClient:   {pki.RequestHeaderCA, "system:auth-proxy", nil, x509.ExtKeyUsageClientAuth},
	}
	if len(want) != len(leaves) {
		t.Fatalf("%d leaves, want %d", len(leaves), len(want))
	}
	for name, w := range want {
		kp, err := pki.Load(dir, name)
		if err != nil {
			t.Fatal(err)
		}
		ca, err := pki.Load(dir, w.ca)
		if err != nil {
			t.Fatal(err)
		}
		if !ca.Cert.IsCA {
			t.Errorf("%s is not a CA", w.ca)
		}
		roots := x509.NewCertPool()
		roots.AddCert(ca.Cert)
		if _, err := kp.Cert.Verify(x509.VerifyOptions{Roots: roots, KeyUsages: []x509.ExtKeyUsage{w.usage}}); err != nil {
			t.Errorf("%s does not verify against %s for %v: %v", name, w.ca, w.usage, err)
		}
		// A client certificate must not serve, nor a serving one authenticate.
		other := x509.ExtKeyUsageServerAuth
		if w.usage == other {
			other = x509.ExtKeyUsageClientAuth
		}
		if _, err := kp.Cert.Verify(x509.VerifyOptions{Roots: roots, KeyUsages: []x509.ExtKeyUsage{other}}); err == nil {
			t.Errorf("%s also verifies for %v", name, other)
		}
		if kp.Cert.KeyUsage&x509.KeyUsageDigitalSignature == 0 || kp.Cert.KeyUsage&x509.KeyUsageKeyEncipherment == 0 {
			t.Errorf("%s key usage %v", name, kp.Cert.KeyUsage)
		}
		if kp.Cert.Subject.CommonName != w.cn || !slices.Equal(kp.Cert.Subject.Organization, w.org) {
			t.Errorf("%s subject %v, want CN=%s O=%v", name, kp.Cert.Subject, w.cn, w.org)
		}
		assertMode(t, pki.KeyPath(dir, name), 0o600)
	}

	serving, _ := pki.Load(dir, pki.APIServerServing)
	var sans []string
	for _, ip := range serving.Cert.IPAddresses {
		sans = append(sans, ip.String())
	}
	sans = append(sans, serving.Cert.DNSNames...)
	sort.Strings(sans)
	wantSANs := slices.Clone(apiHosts)
	sort.Strings(wantSANs)
	if !slices.Equal(sans, wantSANs) {
		t.Errorf("serving SANs %v, want %v", sans, wantSANs)
	}
	if !slices.ContainsFunc(serving.Cert.IPAddresses, func(ip net.IP) bool { return ip.Equal(net.ParseIP("10.0.0.1")) }) {
		t.Errorf("the first service IP is not an IP SAN")
	}
	for _, ca := range pki.CAs {
		assertMode(t, pki.KeyPath(dir, ca), 0o600)
	}
	assertMode(t, pki.KeyPath(dir, pki.ServiceAccount), 0o600)
}

func TestEnsureReusesAndRenews(t *testing.T) {
	dir := t.TempDir()
	if _, err := pki.Ensure(dir, controlPlane(apiHosts)); err != nil {
		t.Fatal(err)
	}
	before, _ := os.ReadFile(pki.CertPath(dir, pki.AdminClient))
	report, err := pki.Ensure(dir, controlPlane(apiHosts))
	if err != nil {
		t.Fatal(err)
	}
	if len(report.Generated) != 0 {
		t.Errorf("second run made %v anew", report.Generated)
	}

	// New SANs make the serving certificate anew, and nothing else.
	report, err = pki.Ensure(dir, controlPlane(append(slices.Clone(apiHosts), "192.0.2.10")))
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(report.Generated, []string{pki.APIServerServing}) {
		t.Errorf("after a SAN change made %v anew, want only %s", report.Generated, pki.APIServerServing)
	}

	// A lost CA makes its leaves anew.
	os.Remove(pki.CertPath(dir, pki.ClientCA))
	report, err = pki.Ensure(dir, controlPlane(apiHosts))
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{pki.ClientCA, pki.AdminClient, pki.ControllerClient, pki.SchedulerClient, pki.KubeletClient} {
		if !slices.Contains(report.Generated, name) {
			t.Errorf("%s was not made anew after its CA was lost: %v", name, report.Generated)
		}
	}
	after, _ := os.ReadFile(pki.CertPath(dir, pki.AdminClient))
	if string(before) == string(after) {
		t.Errorf("the admin certificate did not change with its CA")
	}
}

func TestKubeconfig(t *testing.T) {
	dir := t.TempDir()
	if _, err := pki.Ensure(dir, controlPlane(apiHosts)); err != nil {
		t.Fatal(err)
	}
	admin, _ := pki.Load(dir, pki.AdminClient)
	caPEM, _ := pki.LoadCAPEM(dir, pki.ServerCA)
	path := dir + "/admin.kubeconfig"
	err := pki.Kubeconfig{Name: "kenv-test", Server: "https://127.0.0.1:7443", CAPEM: caPEM, Client: admin}.Write(path)
	if err != nil {
		t.Fatal(err)
	}
	assertMode(t, path, 0o600)
	cfg, err := clientcmd.BuildConfigFromFlags("", path)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Host != "https://127.0.0.1:7443" || string(cfg.CAData) != string(caPEM) || string(cfg.CertData) != string(admin.CertPEM) {
		t.Errorf("kubeconfig reads back as host %s", cfg.Host)
	}
}

func assertMode(t *testing.T, path string, want os.FileMode) {
	t.Helper()
	info, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if info.Mode().Perm() != want {
		t.Errorf("%s has mode %v, want %v", path, info.Mode().Perm(), want)
	}
}
