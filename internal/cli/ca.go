package cli

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/spiffe/go-spiffe/v2/spiffeid"
	"sigs.k8s.io/yaml"

	"github.com/meshfed/meshfed/federation/schema"
	"github.com/meshfed/meshfed/internal/devca"
)

// Defaults of the dev CA.
const (
	defaultCATTL      = 365 * 24 * time.Hour
	defaultSVIDTTL    = time.Hour
	bundleRefreshHint = 5 * time.Minute
)

const devOnly = `This is a dev-only CA, not for production: its key sits unencrypted in
a directory, nothing rotates or revokes it. Production clusters get their
SVIDs from SPIRE, cert-manager or their own PKI.`

func newCACommand(s Streams) *cobra.Command {
	return group("ca", "Dev-only SPIFFE CA for quick starts and tests (not for production)",
		`A small certificate authority for one SPIFFE trust domain, kept in a
directory: `+"`ca init`"+` creates it with the trust domain's SPIFFE bundle,
`+"`ca issue`"+` issues X.509-SVIDs (ECDSA P-256, short-lived) from it.

`+devOnly,
		`  meshfed ca init --trust-domain eu-1.example.org --dir ./eu-1-ca
  meshfed ca issue --dir ./eu-1-ca --spiffe-id spiffe://eu-1.example.org/meshfed/gateway/eu-1/gw-0 --out gw-0
  meshfed trust set eu-1.example.org -f ./eu-1-ca/bundle.json`,
		newCAInitCommand(s), newCAIssueCommand(s))
}

// caInitResult is what `ca init` prints with -o json or yaml.
type caInitResult struct {
	TrustDomain    string `json:"trust_domain"`
	Dir            string `json:"dir"`
	Created        bool   `json:"created"`
	CACert         string `json:"ca_cert"`
	CAKey          string `json:"ca_key"`
	NotAfter       string `json:"not_after"`
	Bundle         string `json:"bundle"`
	BundleSequence uint64 `json:"bundle_sequence"`
	BundleWritten  bool   `json:"bundle_written"`
}

func newCAInitCommand(s Streams) *cobra.Command {
	var (
		td, dir string
		ttl     time.Duration
	)
	cmd := &cobra.Command{
		Use:   "init --trust-domain TRUST_DOMAIN --dir DIR",
		Short: "Create a dev-only CA and its SPIFFE bundle (not for production)",
		Long: `Create a CA for a SPIFFE trust domain in DIR: its certificate (ca.pem),
its key (ca-key.pem, mode 0600) and the trust domain's SPIFFE bundle
(bundle.json, a JWKS with spiffe_sequence and spiffe_refresh_hint) that
` + "`meshfed trust set`" + ` and ` + "`meshfed cluster add --bundle`" + ` take.

If DIR already holds a CA of the same trust domain it is kept (--ttl is
then ignored) and bundle.json is written if missing; a CA of another trust
domain is refused. bundle.json is left alone while it names this CA; if it
names another (the CA files were replaced), it is rewritten with its
sequence number plus one.

` + devOnly,
		Example: `  meshfed ca init --trust-domain eu-1.example.org --dir ./eu-1-ca
  meshfed ca init --trust-domain test.local --dir /tmp/ca --ttl 24h -o json`,
		Args: noArgs,
	}
	out := addOutputFlag(cmd)
	f := cmd.Flags()
	f.StringVar(&td, "trust-domain", "", "SPIFFE trust domain of the CA, e.g. eu-1.example.org (required)")
	f.StringVar(&dir, "dir", "", "directory that holds the CA (required)")
	f.DurationVar(&ttl, "ttl", defaultCATTL, "lifetime of a new CA certificate")
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		if err := requireFlags(cmd, "trust-domain", "dir"); err != nil {
			return err
		}
		if ttl <= 0 {
			return usagef("--ttl %s: the CA lifetime must be positive", ttl)
		}
		if err := schema.ValidateTrustDomain("", "--trust-domain", td); err != nil {
			return err
		}
		ca, created, err := devca.LoadOrCreate(dir, spiffeid.RequireTrustDomainFromString(td), ttl)
		if err != nil {
			return err
		}
		bundlePath := filepath.Join(dir, devca.BundleFile)
		seq, written, err := ca.WriteBundleJSON(bundlePath, bundleRefreshHint)
		if err != nil {
			return err
		}
		res := caInitResult{
			TrustDomain:    td,
			Dir:            dir,
			Created:        created,
			CACert:         filepath.Join(dir, devca.CertFile),
			CAKey:          filepath.Join(dir, devca.KeyFile),
			NotAfter:       ca.Certificate().NotAfter.UTC().Format(time.RFC3339),
			Bundle:         bundlePath,
			BundleSequence: seq,
			BundleWritten:  written,
		}
		return printResult(s.Out, out.value, res, func(w io.Writer) {
			if created {
				fmt.Fprintf(w, "dev CA of trust domain %q created (dev-only, not for production)\n", td)
				fmt.Fprintf(w, "  wrote %s (expires %s)\n  wrote %s (mode 0600)\n", res.CACert, res.NotAfter, res.CAKey)
			} else {
				fmt.Fprintf(w, "dev CA of trust domain %q already exists in %s: kept\n", td, dir)
				fmt.Fprintf(w, "  %s (expires %s)\n  %s\n", res.CACert, res.NotAfter, res.CAKey)
			}
			if written {
				fmt.Fprintf(w, "  wrote %s (SPIFFE bundle, sequence %d)\n", bundlePath, seq)
			} else {
				fmt.Fprintf(w, "  %s (SPIFFE bundle, sequence %d) unchanged\n", bundlePath, seq)
			}
		})
	}
	return cmd
}

// caIssueResult is what `ca issue` prints with -o json or yaml.
type caIssueResult struct {
	SPIFFEID    string   `json:"spiffe_id"`
	TrustDomain string   `json:"trust_domain"`
	Cert        string   `json:"cert"`
	Key         string   `json:"key"`
	NotAfter    string   `json:"not_after"`
	DNSNames    []string `json:"dns_names"`
	IPs         []string `json:"ips"`
}

func newCAIssueCommand(s Streams) *cobra.Command {
	var (
		dir, idArg, prefix string
		ttl                time.Duration
		dnsNames, ipArgs   []string
	)
	cmd := &cobra.Command{
		Use:   "issue --dir DIR --spiffe-id SPIFFE_ID --out PREFIX",
		Short: "Issue an X.509-SVID from a dev-only CA (not for production)",
		Long: `Issue an X.509-SVID from the CA in DIR (made by ` + "`meshfed ca init`" + `) and
write its certificate chain to PREFIX.pem and its key to PREFIX-key.pem
(mode 0600).

The SVID follows the X.509-SVID standard: an ECDSA P-256 key, the SPIFFE
ID as the only URI SAN, not a CA, key usage digitalSignature (and
keyEncipherment), extended key usage serverAuth and clientAuth. It lives
--ttl, cut short at the CA's own expiry. The SPIFFE ID must be in the CA's
trust domain and have a path. --dns and --ip add SANs for clients that
check host names.

` + devOnly,
		Example: `  meshfed ca issue --dir ./eu-1-ca --spiffe-id spiffe://eu-1.example.org/meshfed/gateway/eu-1/gw-0 \
      --dns gw-0.eu-1.example.org --ip 10.0.0.7 --out ./gw-0
  meshfed ca issue --dir ./eu-1-ca --spiffe-id spiffe://eu-1.example.org/demo/api --ttl 10m --out api -o json`,
		Args: noArgs,
	}
	out := addOutputFlag(cmd)
	f := cmd.Flags()
	f.StringVar(&dir, "dir", "", "directory of the CA, as given to meshfed ca init (required)")
	f.StringVar(&idArg, "spiffe-id", "", "SPIFFE ID of the SVID, spiffe://TRUST_DOMAIN/PATH (required)")
	f.StringVar(&prefix, "out", "", "write PREFIX.pem and PREFIX-key.pem (required)")
	f.DurationVar(&ttl, "ttl", defaultSVIDTTL, "lifetime of the SVID, at most the CA's remaining lifetime")
	f.StringArrayVar(&dnsNames, "dns", nil, "DNS SAN to add; repeat for several")
	f.StringArrayVar(&ipArgs, "ip", nil, "IP address SAN to add; repeat for several")
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		if err := requireFlags(cmd, "dir", "spiffe-id", "out"); err != nil {
			return err
		}
		if ttl <= 0 {
			return usagef("--ttl %s: the SVID lifetime must be positive", ttl)
		}
		id, err := parseLeafID(idArg)
		if err != nil {
			return err
		}
		opts, err := sanOptions(dnsNames, ipArgs)
		if err != nil {
			return err
		}
		ca, err := loadCA(dir, id.TrustDomain())
		if err != nil {
			return err
		}
		if id.TrustDomain() != ca.TrustDomain() {
			return fmt.Errorf("--spiffe-id %q is in trust domain %q, but the CA in %s is of trust domain %q: use an ID in %q, or a CA of %q (meshfed ca init --trust-domain %s --dir OTHER_DIR)",
				idArg, id.TrustDomain().Name(), dir, ca.TrustDomain().Name(), ca.TrustDomain().Name(), id.TrustDomain().Name(), id.TrustDomain().Name())
		}
		if exp := ca.Certificate().NotAfter; !exp.After(time.Now()) {
			return fmt.Errorf("the CA in %s expired at %s: create a new one with meshfed ca init in another directory", dir, exp.UTC().Format(time.RFC3339))
		}
		svid, err := ca.IssueSVID(id, ttl, opts)
		if err != nil {
			return err
		}
		certPath, keyPath := prefix+".pem", prefix+"-key.pem"
		if err := devca.WriteSVID(certPath, keyPath, svid); err != nil {
			return err
		}
		res := caIssueResult{
			SPIFFEID:    id.String(),
			TrustDomain: id.TrustDomain().Name(),
			Cert:        certPath,
			Key:         keyPath,
			NotAfter:    svid.Certificates[0].NotAfter.UTC().Format(time.RFC3339),
			DNSNames:    opts.DNSNames,
			IPs:         ipArgs,
		}
		if res.DNSNames == nil {
			res.DNSNames = []string{}
		}
		if res.IPs == nil {
			res.IPs = []string{}
		}
		return printResult(s.Out, out.value, res, func(w io.Writer) {
			fmt.Fprintf(w, "X.509-SVID %s issued by the dev CA in %s (dev-only, not for production)\n", id, dir)
			note := ""
			if svid.Certificates[0].NotAfter.Equal(ca.Certificate().NotAfter) {
				note = " (cut short at the CA's expiry)"
			}
			fmt.Fprintf(w, "  expires %s%s\n", res.NotAfter, note)
			fmt.Fprintf(w, "  wrote %s (certificate chain)\n  wrote %s (key, mode 0600)\n", certPath, keyPath)
		})
	}
	return cmd
}

// parseLeafID parses the SPIFFE ID of a leaf SVID, which needs a path
// (X.509-SVID section 3.1).
func parseLeafID(s string) (spiffeid.ID, error) {
	id, err := spiffeid.FromString(s)
	if err != nil {
		return spiffeid.ID{}, fmt.Errorf("--spiffe-id %q is not a valid SPIFFE ID: %s (want spiffe://TRUST_DOMAIN/PATH: trust domain of lowercase letters, digits, '.', '-', '_'; path segments of letters, digits, '.', '-', '_')",
			s, strings.TrimPrefix(err.Error(), "spiffeid: "))
	}
	if id.Path() == "" {
		return spiffeid.ID{}, fmt.Errorf("--spiffe-id %q has no path: the ID of an X.509-SVID leaf needs one, e.g. %s/workload", s, id)
	}
	return id, nil
}

// sanOptions checks --dns and --ip values.
func sanOptions(dnsNames, ipArgs []string) (devca.SVIDOptions, error) {
	var opts devca.SVIDOptions
	for _, n := range dnsNames {
		if !isDNSName(n) {
			return opts, fmt.Errorf("--dns %q is not a DNS name (labels of letters, digits and '-' joined by '.', optionally starting with \"*.\")", n)
		}
		opts.DNSNames = append(opts.DNSNames, n)
	}
	for _, a := range ipArgs {
		ip := net.ParseIP(a)
		if ip == nil {
			return opts, fmt.Errorf("--ip %q is not an IP address (e.g. 10.0.0.7 or fd00::7)", a)
		}
		opts.IPs = append(opts.IPs, ip)
	}
	return opts, nil
}

// isDNSName accepts host names and wildcards as they appear in DNS SANs.
func isDNSName(s string) bool {
	s = strings.TrimPrefix(s, "*.")
	if s == "" || len(s) > 253 {
		return false
	}
	for _, label := range strings.Split(s, ".") {
		if label == "" || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return false
		}
		for _, c := range label {
			if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-') {
				return false
			}
		}
	}
	return true
}

// loadCA loads the CA kept in dir; td, the trust domain asked for, only
// shapes the hint when dir holds no CA.
func loadCA(dir string, td spiffeid.TrustDomain) (*devca.CA, error) {
	certPath := filepath.Join(dir, devca.CertFile)
	if _, err := os.Stat(certPath); errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("no CA in %s (%s does not exist): create one with `meshfed ca init --trust-domain %s --dir %s`", dir, certPath, td.Name(), dir)
	}
	return devca.Load(certPath, filepath.Join(dir, devca.KeyFile))
}

// printResult writes v as JSON or YAML, or calls text for the table format.
func printResult(w io.Writer, format string, v any, text func(w io.Writer)) error {
	if format == formatTable {
		text(w)
		return nil
	}
	data, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	data = append(data, '\n')
	if format == formatYAML {
		if data, err = yaml.JSONToYAML(data); err != nil {
			return fmt.Errorf("converting to YAML: %w", err)
		}
	}
	_, err = w.Write(data)
	return err
}
