package pki

import (
	"bytes"
	"crypto/x509"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"sync"
	"time"

	"github.com/google/renameio/v2"
	"github.com/hashicorp/go-multierror"
)

// Names of the files of a control plane's PKI, as local-up-cluster names them.
const (
	ServerCA          = "server-ca"
	ClientCA          = "client-ca"
	RequestHeaderCA   = "request-header-ca"
	APIServerServing  = "serving-kube-apiserver"
	ControllerServing = "serving-kube-controller-manager"
	SchedulerServing  = "serving-kube-scheduler"
	AdminClient       = "client-admin"
	ControllerClient  = "client-controller"
	SchedulerClient   = "client-scheduler"
	KubeletClient     = "client-kube-apiserver"
	AuthProxyClient   = "client-auth-proxy"
	ServiceAccount    = "service-account"
	KwokServing       = "serving-kwok"
	KubeletServing    = "serving-kubelet"
	NodeClient        = "client-kubelet"
	ProxyClient       = "client-kube-proxy"
)

const (
	caValidity   = 10 * 365 * 24 * time.Hour
	leafValidity = 365 * 24 * time.Hour
	// renewBefore is how close to expiry a certificate is made anew.
	renewBefore = 30 * 24 * time.Hour
)

// Leaf is a leaf certificate of the control plane and the CA that signs it.
type Leaf struct {
	Name string
	CA   string
	Request
}

// CAs are the control plane's certificate authorities.
var CAs = []string{ServerCA, ClientCA, RequestHeaderCA}

// ControlPlaneLeaves lists the certificates of kube-apiserver and its
// admin: its serving certificate for apiServerHosts, the admin's client
// certificate, its client certificate to the kubelets and its front
// proxy's. The other components add their own (ServingLeaf, ClientLeaf).
func ControlPlaneLeaves(apiServerHosts []string) []Leaf {
	return []Leaf{
		{APIServerServing, ServerCA, Request{CommonName: "kubernetes.default", Hosts: apiServerHosts, Usage: ServerAuth}},
		ClientLeaf(AdminClient, "system:admin", "system:masters"),
		{KubeletClient, ClientCA, Request{CommonName: "kube-apiserver", Usage: ClientAuth}},
		{AuthProxyClient, RequestHeaderCA, Request{CommonName: "system:auth-proxy", Usage: ClientAuth}},
	}
}

// ServingLeaf is the serving certificate name, from the server CA, for
// hosts. Unlike local-up-cluster, the controller-manager and scheduler get
// theirs from it too: clients can verify them, and a debug build no longer
// spends seconds making a self-signed RSA key at each start.
func ServingLeaf(name, commonName string, hosts []string) Leaf {
	return Leaf{name, ServerCA, Request{CommonName: commonName, Hosts: hosts, Usage: ServerAuth}}
}

// ClientLeaf is the client certificate name, from the client CA, of the
// user commonName in the groups organizations.
func ClientLeaf(name, commonName string, organizations ...string) Leaf {
	return Leaf{name, ClientCA, Request{CommonName: commonName, Organization: organizations, Usage: ClientAuth}}
}

// Report says which files Ensure made anew and which it kept.
type Report struct {
	Generated []string
	Reused    []string
}

// Ensure makes every CA, leaf and the service account key in dir that is
// missing, expiring, or no longer matches its request, and keeps the rest.
// A new CA makes all its leaves new. The work runs in parallel: RSA keys are
// the slow part.
func Ensure(dir string, leaves []Leaf) (*Report, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	r := &reporter{}
	cas := map[string]*KeyPair{}
	renewedCA := map[string]bool{}
	var mu sync.Mutex
	err := parallel(len(CAs)+1, func(i int) error {
		if i == len(CAs) {
			return ensureServiceAccountKey(dir, r)
		}
		name := CAs[i]
		ca, err := Load(dir, name)
		renew := err != nil || expiring(ca.Cert)
		if renew {
			if ca, err = NewCA(name, caValidity); err != nil {
				return err
			}
			if err := ca.Write(dir, name); err != nil {
				return err
			}
		}
		r.add(name, renew)
		mu.Lock()
		defer mu.Unlock()
		cas[name], renewedCA[name] = ca, renew
		return nil
	})
	if err != nil {
		return nil, err
	}
	err = parallel(len(leaves), func(i int) error {
		l := leaves[i]
		ca := cas[l.CA]
		if ca == nil {
			return fmt.Errorf("certificate %s: unknown CA %q", l.Name, l.CA)
		}
		kp, err := Load(dir, l.Name)
		renew := err != nil || renewedCA[l.CA] || !matches(kp.Cert, ca, l.Request)
		if renew {
			if kp, err = Sign(ca, l.Request, leafValidity); err != nil {
				return err
			}
			if err := kp.Write(dir, l.Name); err != nil {
				return err
			}
		}
		r.add(l.Name, renew)
		return nil
	})
	if err != nil {
		return nil, err
	}
	return r.report(), nil
}

func ensureServiceAccountKey(dir string, r *reporter) error {
	path := KeyPath(dir, ServiceAccount)
	if _, err := os.Stat(path); err == nil {
		r.add(ServiceAccount, false)
		return nil
	}
	key, err := NewServiceAccountKey()
	if err != nil {
		return err
	}
	r.add(ServiceAccount, true)
	return renameio.WriteFile(path, key, 0o600)
}

func expiring(cert *x509.Certificate) bool {
	return time.Until(cert.NotAfter) < renewBefore
}

// matches reports whether cert is still what r asks for, signed by ca.
func matches(cert *x509.Certificate, ca *KeyPair, r Request) bool {
	if expiring(cert) || cert.CheckSignatureFrom(ca.Cert) != nil || !bytes.Equal(cert.RawIssuer, ca.Cert.RawSubject) {
		return false
	}
	if cert.Subject.CommonName != r.CommonName || !sameSet(cert.Subject.Organization, r.Organization) {
		return false
	}
	var hosts []string
	for _, ip := range cert.IPAddresses {
		hosts = append(hosts, ip.String())
	}
	hosts = append(hosts, cert.DNSNames...)
	want := make([]string, 0, len(r.Hosts))
	for _, h := range r.Hosts {
		if ip := net.ParseIP(h); ip != nil {
			h = ip.String()
		}
		want = append(want, h)
	}
	return sameSet(hosts, want)
}

func sameSet(a, b []string) bool {
	a, b = slices.Clone(a), slices.Clone(b)
	sort.Strings(a)
	sort.Strings(b)
	return slices.Equal(slices.Compact(a), slices.Compact(b))
}

// parallel runs fn(0..n-1) concurrently and combines their errors.
func parallel(n int, fn func(i int) error) error {
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		errs *multierror.Error
	)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := fn(i); err != nil {
				mu.Lock()
				errs = multierror.Append(errs, err)
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	return errs.ErrorOrNil()
}

type reporter struct {
	mu sync.Mutex
	r  Report
}

func (r *reporter) add(name string, generated bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if generated {
		r.r.Generated = append(r.r.Generated, name)
	} else {
		r.r.Reused = append(r.r.Reused, name)
	}
}

func (r *reporter) report() *Report {
	sort.Strings(r.r.Generated)
	sort.Strings(r.r.Reused)
	return &r.r
}

// LoadCAPEM reads the certificate of the CA called name from dir.
func LoadCAPEM(dir, name string) ([]byte, error) {
	return os.ReadFile(filepath.Join(dir, name+".crt"))
}
