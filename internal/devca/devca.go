package devca

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"time"

	"github.com/spiffe/go-spiffe/v2/bundle/spiffebundle"
	"github.com/spiffe/go-spiffe/v2/bundle/x509bundle"
	"github.com/spiffe/go-spiffe/v2/spiffeid"
	"github.com/spiffe/go-spiffe/v2/svid/x509svid"
)

// File names inside a CA directory.
const (
	CertFile   = "ca.pem"
	KeyFile    = "ca-key.pem"
	BundleFile = "bundle.json" // the trust domain's SPIFFE bundle (JWKS)
)

// CA issues X.509-SVIDs for one trust domain. It is safe for concurrent use.
type CA struct {
	td   spiffeid.TrustDomain
	cert *x509.Certificate
	key  crypto.Signer
	now  func() time.Time
}

// New creates a CA with a fresh P-256 key, valid for ttl.
func New(td spiffeid.TrustDomain, ttl time.Duration) (*CA, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("devca: %w", err)
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber:          serial(),
		Subject:               pkix.Name{Organization: []string{"meshfed dev CA"}, CommonName: td.Name()},
		URIs:                  []*url.URL{td.ID().URL()},
		NotBefore:             now.Add(-time.Minute),
		NotAfter:              now.Add(ttl),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		return nil, fmt.Errorf("devca: self-sign: %w", err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, fmt.Errorf("devca: %w", err)
	}
	return &CA{td: td, cert: cert, key: key, now: time.Now}, nil
}

// LoadOrCreate loads the CA kept in dir, or creates one there (key file
// mode 0600) when dir holds none. created reports which.
func LoadOrCreate(dir string, td spiffeid.TrustDomain, ttl time.Duration) (ca *CA, created bool, err error) {
	certPath, keyPath := filepath.Join(dir, CertFile), filepath.Join(dir, KeyFile)
	if _, err := os.Stat(certPath); err == nil {
		ca, err := Load(certPath, keyPath)
		if err != nil {
			return nil, false, err
		}
		if ca.td != td {
			return nil, false, fmt.Errorf("devca: %s is the CA of trust domain %q, not %q: use another directory or the same trust domain", certPath, ca.td, td)
		}
		return ca, false, nil
	}
	ca, err = New(td, ttl)
	if err != nil {
		return nil, false, err
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, false, fmt.Errorf("devca: %w", err)
	}
	if err := WriteCertKey(certPath, keyPath, []*x509.Certificate{ca.cert}, ca.key); err != nil {
		return nil, false, err
	}
	return ca, true, nil
}

// Load reads a CA from PEM files: a CA certificate with a SPIFFE trust
// domain URI and its PKCS#8 key.
func Load(certPath, keyPath string) (*CA, error) {
	certPEM, err := os.ReadFile(certPath)
	if err != nil {
		return nil, fmt.Errorf("devca: %w", err)
	}
	keyPEM, err := os.ReadFile(keyPath)
	if err != nil {
		return nil, fmt.Errorf("devca: %w", err)
	}
	cb, _ := pem.Decode(certPEM)
	kb, _ := pem.Decode(keyPEM)
	if cb == nil || kb == nil {
		return nil, fmt.Errorf("devca: %s or %s holds no PEM block", certPath, keyPath)
	}
	cert, err := x509.ParseCertificate(cb.Bytes)
	if err != nil {
		return nil, fmt.Errorf("devca: %s: %w", certPath, err)
	}
	k, err := x509.ParsePKCS8PrivateKey(kb.Bytes)
	if err != nil {
		return nil, fmt.Errorf("devca: %s: %w", keyPath, err)
	}
	signer, ok := k.(crypto.Signer)
	if !ok || !cert.IsCA || len(cert.URIs) != 1 {
		return nil, fmt.Errorf("devca: %s is not a CA certificate with a SPIFFE trust domain URI", certPath)
	}
	id, err := spiffeid.FromURI(cert.URIs[0])
	if err != nil {
		return nil, fmt.Errorf("devca: %s: %w", certPath, err)
	}
	return &CA{td: id.TrustDomain(), cert: cert, key: signer, now: time.Now}, nil
}

// TrustDomain returns the CA's trust domain.
func (ca *CA) TrustDomain() spiffeid.TrustDomain { return ca.td }

// Certificate returns the CA certificate.
func (ca *CA) Certificate() *x509.Certificate { return ca.cert }

// Bundle returns the X.509 bundle of the trust domain (the CA certificate).
func (ca *CA) Bundle() *x509bundle.Bundle {
	return x509bundle.FromX509Authorities(ca.td, []*x509.Certificate{ca.cert})
}

// SVIDOptions adds SANs for clients that verify host names.
type SVIDOptions struct {
	DNSNames []string
	IPs      []net.IP
}

// IssueSVID issues an X.509-SVID for id, valid for ttl (capped at the CA's
// own expiry), usable for both TLS server and client authentication.
func (ca *CA) IssueSVID(id spiffeid.ID, ttl time.Duration, opts SVIDOptions) (*x509svid.SVID, error) {
	if id.TrustDomain() != ca.td {
		return nil, fmt.Errorf("devca: %s is not in trust domain %q", id, ca.td)
	}
	if id.Path() == "" {
		// X.509-SVID section 3.1: leaf SPIFFE IDs have a non-root path.
		return nil, fmt.Errorf("devca: %s has no path: a leaf SVID's SPIFFE ID needs one, e.g. %s/workload", id, id)
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("devca: %w", err)
	}
	now := ca.now()
	notAfter := now.Add(ttl)
	if notAfter.After(ca.cert.NotAfter) {
		notAfter = ca.cert.NotAfter
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial(),
		Subject:               pkix.Name{Organization: []string{"meshfed"}},
		URIs:                  []*url.URL{id.URL()},
		DNSNames:              opts.DNSNames,
		IPAddresses:           opts.IPs,
		NotBefore:             now.Add(-time.Minute),
		NotAfter:              notAfter,
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
		BasicConstraintsValid: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, key.Public(), ca.key)
	if err != nil {
		return nil, fmt.Errorf("devca: sign %s: %w", id, err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, fmt.Errorf("devca: %w", err)
	}
	return &x509svid.SVID{ID: id, Certificates: []*x509.Certificate{cert}, PrivateKey: key}, nil
}

// WriteSVID writes an SVID's certificate chain and key as PEM files.
func WriteSVID(certPath, keyPath string, svid *x509svid.SVID) error {
	return WriteCertKey(certPath, keyPath, svid.Certificates, svid.PrivateKey)
}

// WriteCertKey writes certificates and a PKCS#8 key as PEM files; the key
// file is mode 0600. Files are replaced atomically.
func WriteCertKey(certPath, keyPath string, certs []*x509.Certificate, key crypto.Signer) error {
	var certPEM []byte
	for _, c := range certs {
		certPEM = append(certPEM, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Raw})...)
	}
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return fmt.Errorf("devca: %w", err)
	}
	keyPEM := pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})
	if err := writeAtomic(keyPath, keyPEM, 0o600); err != nil {
		return err
	}
	return writeAtomic(certPath, certPEM, 0o644)
}

// WriteBundlePEM writes the CA certificate as a PEM bundle file.
func (ca *CA) WriteBundlePEM(path string) error {
	return writeAtomic(path, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: ca.cert.Raw}), 0o644)
}

// SPIFFEBundle returns the trust domain's SPIFFE bundle: the CA certificate
// as its only X.509 authority, with sequence number sequence and refresh
// hint refreshHint (none when 0).
func (ca *CA) SPIFFEBundle(sequence uint64, refreshHint time.Duration) *spiffebundle.Bundle {
	b := spiffebundle.FromX509Authorities(ca.td, []*x509.Certificate{ca.cert})
	b.SetSequenceNumber(sequence)
	if refreshHint > 0 {
		b.SetRefreshHint(refreshHint)
	}
	return b
}

// WriteBundleJSON writes the trust domain's SPIFFE bundle document (JWKS)
// to path, atomically and mode 0644, and returns its sequence number.
// A new file gets sequence 1. A file that already holds exactly this CA as
// its X.509 authorities is left as it is (written is false); one holding
// other authorities, say from a CA since replaced, is overwritten with its
// sequence plus one, so that consumers that refuse rollbacks accept it.
// A file that cannot be read as a SPIFFE bundle is an error and is left
// untouched.
func (ca *CA) WriteBundleJSON(path string, refreshHint time.Duration) (sequence uint64, written bool, err error) {
	sequence = 1
	old, err := spiffebundle.Load(ca.td, path)
	switch {
	case err == nil:
		prev, _ := old.SequenceNumber()
		if authorities := old.X509Authorities(); len(authorities) == 1 && authorities[0].Equal(ca.cert) {
			return prev, false, nil
		}
		sequence = prev + 1
	case errors.Is(err, os.ErrNotExist):
	default:
		return 0, false, fmt.Errorf("devca: %s: %w (remove the file to have the bundle written anew)", path, err)
	}
	data, err := ca.SPIFFEBundle(sequence, refreshHint).Marshal()
	if err != nil {
		return 0, false, fmt.Errorf("devca: encoding the bundle of %q: %w", ca.td, err)
	}
	if err := writeAtomic(path, data, 0o644); err != nil {
		return 0, false, err
	}
	return sequence, true, nil
}

func writeAtomic(path string, data []byte, mode os.FileMode) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return fmt.Errorf("devca: %w", err)
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), ".tmp-*")
	if err != nil {
		return fmt.Errorf("devca: %w", err)
	}
	defer os.Remove(tmp.Name())
	if err := tmp.Chmod(mode); err != nil {
		tmp.Close()
		return fmt.Errorf("devca: %w", err)
	}
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return fmt.Errorf("devca: write %s: %w", path, err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("devca: %w", err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("devca: %w", err)
	}
	return nil
}

func serial() *big.Int {
	n, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		panic(errors.New("devca: crypto/rand failed: " + err.Error()))
	}
	return n
}
