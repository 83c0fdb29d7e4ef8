package kubetest

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"

	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
	"k8s.io/client-go/util/cert"
	"k8s.io/client-go/util/keyutil"
)

// Files in a cluster's directory.
const (
	servingCertFile       = "apiserver.crt" // serving certificate followed by its CA
	servingKeyFile        = "apiserver.key"
	serviceAccountKeyFile = "sa.key" // signs and verifies service account tokens
	tokenFile             = "tokens.csv"
	kubeconfigFile        = "kubeconfig"
)

// adminUser is the user of the static token; system:masters passes every
// RBAC check.
const adminUser = "admin"

// writeFiles creates the serving certificate, the service account key and the
// static token file, kept across restarts.
func (c *Cluster) writeFiles() error {
	certPEM, keyPEM, err := cert.GenerateSelfSignedCertKey("127.0.0.1", nil, []string{"localhost"})
	if err != nil {
		return fmt.Errorf("generate serving certificate: %w", err)
	}
	saKey, err := keyutil.MakeEllipticPrivateKeyPEM()
	if err != nil {
		return fmt.Errorf("generate service account key: %w", err)
	}
	secret := make([]byte, 16)
	if _, err := rand.Read(secret); err != nil {
		return err
	}
	c.caPEM = certPEM // holds the CA after the leaf; trusting the leaf too is harmless
	c.token = hex.EncodeToString(secret)
	for name, data := range map[string][]byte{
		servingCertFile:       certPEM,
		servingKeyFile:        keyPEM,
		serviceAccountKeyFile: saKey,
		// token,user,uid,"group1,group2"
		tokenFile: fmt.Appendf(nil, "%s,%s,%s,\"system:masters\"\n", c.token, adminUser, adminUser),
	} {
		if err := os.WriteFile(filepath.Join(c.dir, name), data, 0o600); err != nil {
			return err
		}
	}
	return nil
}

// writeKubeconfig writes the admin kubeconfig for the current port.
func (c *Cluster) writeKubeconfig() error {
	cfg := clientcmdapi.NewConfig()
	cfg.Clusters[c.name] = &clientcmdapi.Cluster{Server: c.Host(), CertificateAuthorityData: c.caPEM}
	cfg.AuthInfos[c.name] = &clientcmdapi.AuthInfo{Token: c.token}
	cfg.Contexts[c.name] = &clientcmdapi.Context{Cluster: c.name, AuthInfo: c.name}
	cfg.CurrentContext = c.name
	if err := clientcmd.WriteToFile(*cfg, c.Kubeconfig()); err != nil {
		return fmt.Errorf("kubetest: %s: write kubeconfig: %w", c.name, err)
	}
	return nil
}
