// Package pki makes the certificate authorities, certificates, service
// account key and kubeconfigs of a local control plane, with cfssl.
package pki

import (
	"crypto"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	cflog "github.com/cloudflare/cfssl/log"
	"github.com/google/renameio/v2"

	"github.com/cloudflare/cfssl/config"
	"github.com/cloudflare/cfssl/csr"
	"github.com/cloudflare/cfssl/helpers"
	"github.com/cloudflare/cfssl/initca"
	"github.com/cloudflare/cfssl/signer"
	"github.com/cloudflare/cfssl/signer/local"
)

func init() {
	// cfssl logs every signing at INFO on stderr.
	cflog.Level = cflog.LevelError
}

// Usage is what a leaf certificate is for.
type Usage string

const (
	ServerAuth Usage = "server auth"
	ClientAuth Usage = "client auth"
)

// KeyPair is a certificate and its private key.
type KeyPair struct {
	Cert    *x509.Certificate
	Key     crypto.Signer
	CertPEM []byte
	KeyPEM  []byte
}

// keyRequest matches what local-up-cluster makes: RSA 2048.
func keyRequest() *csr.KeyRequest { return &csr.KeyRequest{A: "rsa", S: 2048} }

// NewCA makes a self-signed certificate authority.
func NewCA(commonName string, validity time.Duration) (*KeyPair, error) {
	certPEM, _, keyPEM, err := initca.New(&csr.CertificateRequest{
		CN:         commonName,
		KeyRequest: keyRequest(),
		CA:         &csr.CAConfig{Expiry: validity.String()},
	})
	if err != nil {
		return nil, fmt.Errorf("make CA %s: %w", commonName, err)
	}
	return parseKeyPair(certPEM, keyPEM)
}

// Request describes a leaf certificate.
type Request struct {
	CommonName   string
	Organization []string
	// Hosts become IP SANs when they parse as IPs, DNS SANs otherwise.
	Hosts []string
	Usage Usage
}

// Sign issues a leaf certificate for r, signed by ca.
func Sign(ca *KeyPair, r Request, validity time.Duration) (*KeyPair, error) {
	var names []csr.Name
	for _, o := range r.Organization {
		names = append(names, csr.Name{O: o})
	}
	csrPEM, keyPEM, err := csr.ParseRequest(&csr.CertificateRequest{
		CN:         r.CommonName,
		Names:      names,
		Hosts:      r.Hosts,
		KeyRequest: keyRequest(),
	})
	if err != nil {
		return nil, fmt.Errorf("make key for %s: %w", r.CommonName, err)
	}
	policy := &config.Signing{Default: &config.SigningProfile{
		Usage:        []string{"signing", "key encipherment", string(r.Usage)},
		Expiry:       validity,
		ExpiryString: validity.String(),
	}}
	s, err := local.NewSigner(ca.Key, ca.Cert, signer.DefaultSigAlgo(ca.Key), policy)
	if err != nil {
		return nil, err
	}
	certPEM, err := s.Sign(signer.SignRequest{Hosts: r.Hosts, Request: string(csrPEM)})
	if err != nil {
		return nil, fmt.Errorf("sign certificate for %s: %w", r.CommonName, err)
	}
	return parseKeyPair(certPEM, keyPEM)
}

func parseKeyPair(certPEM, keyPEM []byte) (*KeyPair, error) {
	cert, err := helpers.ParseCertificatePEM(certPEM)
	if err != nil {
		return nil, err
	}
	key, err := helpers.ParsePrivateKeyPEM(keyPEM)
	if err != nil {
		return nil, err
	}
	return &KeyPair{Cert: cert, Key: key, CertPEM: certPEM, KeyPEM: keyPEM}, nil
}

// CertPath and KeyPath name the files of the key pair called name in dir.
func CertPath(dir, name string) string { return filepath.Join(dir, name+".crt") }
func KeyPath(dir, name string) string  { return filepath.Join(dir, name+".key") }

// Write stores the pair as name.crt and name.key; the key is readable by its
// owner only.
func (kp *KeyPair) Write(dir, name string) error {
	if err := renameio.WriteFile(KeyPath(dir, name), kp.KeyPEM, 0o600); err != nil {
		return err
	}
	return renameio.WriteFile(CertPath(dir, name), kp.CertPEM, 0o644)
}

// Load reads the pair called name from dir.
func Load(dir, name string) (*KeyPair, error) {
	certPEM, err := os.ReadFile(CertPath(dir, name))
	if err != nil {
		return nil, err
	}
	keyPEM, err := os.ReadFile(KeyPath(dir, name))
	if err != nil {
		return nil, err
	}
	return parseKeyPair(certPEM, keyPEM)
}

// NewServiceAccountKey makes the RSA key that signs and verifies service
// account tokens, PEM-encoded.
func NewServiceAccountKey() ([]byte, error) {
	kr := keyRequest()
	key, err := kr.Generate()
	if err != nil {
		return nil, err
	}
	signer, ok := key.(crypto.Signer)
	if !ok {
		return nil, errors.New("service account key is not a signer")
	}
	der, err := x509.MarshalPKCS8PrivateKey(signer)
	if err != nil {
		return nil, err
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), nil
}
