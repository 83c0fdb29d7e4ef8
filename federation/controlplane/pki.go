package controlplane

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spiffe/go-spiffe/v2/spiffeid"
	"github.com/spiffe/go-spiffe/v2/svid/x509svid"

	"github.com/meshfed/meshfed/federation/auth"
	"github.com/meshfed/meshfed/federation/client"
	"github.com/meshfed/meshfed/internal/devca"
)

// Files in the PKI directory.
const (
	ServerCertFile = "server.pem"
	ServerKeyFile  = "server-key.pem"
	AdminCertFile  = "admin.pem"
	AdminKeyFile   = "admin-key.pem"
	TokenFile      = "admin.token"
)

const (
	caTTL     = 10 * 365 * 24 * time.Hour
	serverTTL = 30 * 24 * time.Hour
	adminTTL  = 365 * 24 * time.Hour
)

// pki is the control plane's own identity material.
type pki struct {
	ca       *devca.CA
	serverID spiffeid.ID
	server   *x509svid.SVID
	token    string
	dir      string
	created  bool
}

// loadPKI loads or creates the CA, admin SVID and admin token in dir, and
// issues a fresh server SVID for this start.
func loadPKI(dir string, td spiffeid.TrustDomain, hosts []string) (*pki, error) {
	ca, created, err := devca.LoadOrCreate(dir, td, caTTL)
	if err != nil {
		return nil, err
	}
	serverID, err := spiffeid.FromPath(td, auth.ControlPlanePath)
	if err != nil {
		return nil, err
	}
	opts := devca.SVIDOptions{DNSNames: []string{"localhost"}, IPs: []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback}}
	for _, h := range hosts {
		if h == "" || h == "localhost" {
			continue
		}
		if ip := net.ParseIP(h); ip != nil {
			if !ip.IsUnspecified() {
				opts.IPs = append(opts.IPs, ip)
			}
			continue
		}
		opts.DNSNames = append(opts.DNSNames, h)
	}
	server, err := ca.IssueSVID(serverID, serverTTL, opts)
	if err != nil {
		return nil, err
	}
	if err := devca.WriteSVID(filepath.Join(dir, ServerCertFile), filepath.Join(dir, ServerKeyFile), server); err != nil {
		return nil, err
	}
	adminCert, adminKey := filepath.Join(dir, AdminCertFile), filepath.Join(dir, AdminKeyFile)
	if _, err := os.Stat(adminCert); errors.Is(err, os.ErrNotExist) {
		adminID, err := spiffeid.FromPath(td, auth.AdminPathPrefix+"local")
		if err != nil {
			return nil, err
		}
		admin, err := ca.IssueSVID(adminID, adminTTL, devca.SVIDOptions{})
		if err != nil {
			return nil, err
		}
		if err := devca.WriteSVID(adminCert, adminKey, admin); err != nil {
			return nil, err
		}
	}
	token, err := loadOrCreateToken(filepath.Join(dir, TokenFile))
	if err != nil {
		return nil, err
	}
	return &pki{ca: ca, serverID: serverID, server: server, token: token, dir: dir, created: created}, nil
}

func loadOrCreateToken(path string) (string, error) {
	data, err := os.ReadFile(path)
	if err == nil {
		tok := strings.TrimSpace(string(data))
		if len(tok) < 32 {
			return "", fmt.Errorf("controlplane: admin token in %s is shorter than 32 characters; delete the file to get a new one", path)
		}
		return tok, nil
	}
	if !errors.Is(err, os.ErrNotExist) {
		return "", fmt.Errorf("controlplane: %w", err)
	}
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("controlplane: %w", err)
	}
	tok := hex.EncodeToString(b)
	if err := os.WriteFile(path, []byte(tok+"\n"), 0o600); err != nil {
		return "", fmt.Errorf("controlplane: %w", err)
	}
	return tok, nil
}

// adminConfig returns the CLI config for the local admin.
func (p *pki) adminConfig(server string) *client.Config {
	return &client.Config{
		Server:   server,
		CA:       filepath.Join(p.dir, devca.CertFile),
		ServerID: p.serverID.String(),
		Cert:     filepath.Join(p.dir, AdminCertFile),
		Key:      filepath.Join(p.dir, AdminKeyFile),
	}
}
