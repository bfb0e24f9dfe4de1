package pki

import (
	"github.com/google/renameio/v2"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
)

// Kubeconfig describes a kubeconfig with one cluster, user and context, all
// called Name, and the credentials embedded the way local-up-cluster
// flattens them.
type Kubeconfig struct {
	Name   string
	Server string
	CAPEM  []byte
	Client *KeyPair
}

// Write writes the kubeconfig to path, readable by its owner only: it holds
// a private key.
func (k Kubeconfig) Write(path string) error {
	cfg := clientcmdapi.NewConfig()
	cfg.Clusters[k.Name] = &clientcmdapi.Cluster{Server: k.Server, CertificateAuthorityData: k.CAPEM}
	cfg.AuthInfos[k.Name] = &clientcmdapi.AuthInfo{ClientCertificateData: k.Client.CertPEM, ClientKeyData: k.Client.KeyPEM}
	cfg.Contexts[k.Name] = &clientcmdapi.Context{Cluster: k.Name, AuthInfo: k.Name}
	cfg.CurrentContext = k.Name
	raw, err := clientcmd.Write(*cfg)
	if err != nil {
		return err
	}
	return renameio.WriteFile(path, raw, 0o600)
}
