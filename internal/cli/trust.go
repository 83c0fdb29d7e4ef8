package cli

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"time"

	"github.com/spf13/cobra"
	"github.com/spiffe/go-spiffe/v2/bundle/spiffebundle"
	"github.com/spiffe/go-spiffe/v2/bundle/x509bundle"
	"github.com/spiffe/go-spiffe/v2/spiffeid"

	"github.com/meshfed/meshfed/federation/schema"
	meshfedv1 "github.com/meshfed/meshfed/proto/meshfed/v1"
)

func newTrustCommand(a *app) *cobra.Command {
	return group("trust", "Manage the trust bundles of the clusterset's trust domains",
		`Every cluster's workloads have identities in a SPIFFE trust domain. The
control plane keeps one trust bundle per trust domain and hands all of
them to every gateway, so that gateways can authenticate each other and
workloads across clusters.`,
		`  meshfed trust set eu-1.example.org -f eu-1-bundle.json
  meshfed trust list`,
		newTrustListCommand(a), newTrustGetCommand(a), newTrustSetCommand(a), newTrustDeleteCommand(a))
}

func newTrustDeleteCommand(a *app) *cobra.Command {
	return &cobra.Command{
		Use:   "delete TRUST_DOMAIN",
		Short: "Delete the trust bundle of a trust domain",
		Long: `Delete the stored trust bundle of one trust domain. Gateways of that trust
domain can then no longer authenticate to the control plane or to each
other; remove the cluster first (meshfed cluster remove), which keeps the
bundle.`,
		Example: `  meshfed trust delete eu-1.example.org`,
		Args:    positional("TRUST_DOMAIN"),
		RunE: func(cmd *cobra.Command, args []string) error {
			td := args[0]
			if err := schema.ValidateTrustDomain("bundle", "trust_domain", td); err != nil {
				return err
			}
			return a.call(cmd.Context(), func(ctx context.Context, s *session) error {
				if _, err := s.admin.DeleteBundle(ctx, &meshfedv1.DeleteBundleRequest{TrustDomain: td}); err != nil {
					return s.fail(err, fmt.Sprintf("trust bundle of %q", td))
				}
				fmt.Fprintf(a.streams.Out, "trust bundle of %q deleted\n", td)
				return nil
			})
		},
	}
}

func newTrustListCommand(a *app) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List trust bundles",
		Long:  `List the trust bundle of every trust domain with its sequence number and key counts.`,
		Example: `  meshfed trust list
  meshfed trust list -o json`,
		Args: noArgs,
	}
	out := addOutputFlag(cmd)
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		return a.call(cmd.Context(), func(ctx context.Context, s *session) error {
			resp, err := s.admin.ListBundles(ctx, &meshfedv1.ListBundlesRequest{})
			if err != nil {
				return s.fail(err, "")
			}
			return printOutput(a.streams.Out, out.value, resp, func(w io.Writer) { bundleTable(w, resp) })
		})
	}
	return cmd
}

func bundleTable(w io.Writer, resp *meshfedv1.ListBundlesResponse) {
	row(w, "TRUST DOMAIN", "SEQUENCE", "REFRESH HINT", "X509 AUTHORITIES", "JWT AUTHORITIES", "UPDATED")
	for _, b := range resp.GetBundles() {
		x509s, jwts := "?", "?"
		if sb, err := parseStored(b); err == nil {
			x509s, jwts = strconv.Itoa(len(sb.X509Authorities())), strconv.Itoa(len(sb.JWTAuthorities()))
		}
		row(w, b.GetTrustDomain(), strconv.FormatUint(b.GetSequence(), 10), refreshHint(b), x509s, jwts, timestamp(b.GetUpdatedAt()))
	}
}

func parseStored(b *meshfedv1.Bundle) (*spiffebundle.Bundle, error) {
	td, err := spiffeid.TrustDomainFromString(b.GetTrustDomain())
	if err != nil {
		return nil, err
	}
	return spiffebundle.Parse(td, b.GetJwks())
}

func refreshHint(b *meshfedv1.Bundle) string {
	if b.GetRefreshHintSeconds() == 0 {
		return "<none>"
	}
	return (time.Duration(b.GetRefreshHintSeconds()) * time.Second).String()
}

func newTrustGetCommand(a *app) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "get TRUST_DOMAIN",
		Short: "Show the trust bundle of one trust domain",
		Long: `Show a trust bundle: its sequence number, refresh hint, and the X.509 and
JWT authorities it holds. With -o json or yaml the JWKS document is in the
"jwks" field, base64-encoded.`,
		Example: `  meshfed trust get eu-1.example.org
  meshfed trust get eu-1.example.org -o json | jq -r .bundle.jwks | base64 -d`,
		Args: positional("TRUST_DOMAIN"),
	}
	out := addOutputFlag(cmd)
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		td := args[0]
		if err := schema.ValidateTrustDomain("bundle", "trust_domain", td); err != nil {
			return err
		}
		return a.call(cmd.Context(), func(ctx context.Context, s *session) error {
			resp, err := s.admin.GetBundle(ctx, &meshfedv1.GetBundleRequest{TrustDomain: td})
			if err != nil {
				return s.fail(err, fmt.Sprintf("trust bundle of %q", td))
			}
			return printOutput(a.streams.Out, out.value, resp, func(w io.Writer) { bundleDetail(w, resp.GetBundle()) })
		})
	}
	return cmd
}

func bundleDetail(w io.Writer, b *meshfedv1.Bundle) {
	row(w, "Trust domain:", b.GetTrustDomain())
	row(w, "Sequence:", strconv.FormatUint(b.GetSequence(), 10))
	row(w, "Refresh hint:", refreshHint(b))
	row(w, "Updated:", timestamp(b.GetUpdatedAt()))
	sb, err := parseStored(b)
	if err != nil {
		row(w, "Authorities:", "cannot parse the stored document: "+err.Error())
		return
	}
	row(w, "X.509 authorities:", strconv.Itoa(len(sb.X509Authorities())))
	for _, c := range sb.X509Authorities() {
		row(w, "", c.Subject.String(), "expires "+c.NotAfter.UTC().Format(time.RFC3339))
	}
	row(w, "JWT authorities:", strconv.Itoa(len(sb.JWTAuthorities())))
	for _, id := range sortedKeys(sb.JWTAuthorities()) {
		row(w, "", "key ID "+id)
	}
}

func newTrustSetCommand(a *app) *cobra.Command {
	var (
		file     string
		sequence uint64
	)
	cmd := &cobra.Command{
		Use:   "set TRUST_DOMAIN -f BUNDLE_FILE",
		Short: "Set the trust bundle of a trust domain",
		Long: `Set (create or replace) the trust bundle of a trust domain from a file,
"-" for standard input. The file is either a SPIFFE bundle document (a
JWKS, as served by a SPIFFE bundle endpoint or printed by
` + "`spire-server bundle show -format spiffe`" + `), whose spiffe_sequence and
spiffe_refresh_hint are kept, or PEM CA certificates, which become a
bundle with sequence 1 (or --sequence). The bundle is validated before the
control plane is contacted.`,
		Example: `  spire-server bundle show -format spiffe > eu-1.json
  meshfed trust set eu-1.example.org -f eu-1.json
  meshfed trust set onprem.example.org -f ca.pem --sequence 7`,
		Args: positional("TRUST_DOMAIN"),
	}
	out := addOutputFlag(cmd)
	cmd.Flags().StringVarP(&file, "file", "f", "", `bundle file, JWKS or PEM; "-" reads standard input (required)`)
	cmd.Flags().Uint64Var(&sequence, "sequence", 0, "sequence number to record, overriding the file's")
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		td := args[0]
		if err := schema.ValidateTrustDomain("bundle", "trust_domain", td); err != nil {
			return err
		}
		if err := requireFlags(cmd, "file"); err != nil {
			return err
		}
		if cmd.Flags().Changed("sequence") && sequence == 0 {
			return usagef("--sequence 0: sequence numbers start at 1")
		}
		b, err := readBundle(a.streams.In, td, file, sequence)
		if err != nil {
			return err
		}
		return a.call(cmd.Context(), func(ctx context.Context, s *session) error {
			resp, err := s.admin.PutBundle(ctx, &meshfedv1.PutBundleRequest{Bundle: b})
			if err != nil {
				return s.fail(err, fmt.Sprintf("trust bundle of %q", td))
			}
			return printOutput(a.streams.Out, out.value, resp, func(w io.Writer) {
				fmt.Fprintf(w, "trust bundle of %q set (sequence %d)\n", td, resp.GetBundle().GetSequence())
			})
		})
	}
	return cmd
}

// readBundle reads a bundle file for trust domain td and returns the
// record to send. sequence, when not 0, replaces the document's.
func readBundle(stdin io.Reader, td, path string, sequence uint64) (*meshfedv1.Bundle, error) {
	data, err := readInput(stdin, path, schema.MaxBundleBytes)
	if err != nil {
		return nil, fmt.Errorf("bundle file: %w", err)
	}
	b, err := bundleFromFile(td, data, sequence)
	if err != nil {
		return nil, fmt.Errorf("bundle file %s: %w", displayName(path), err)
	}
	return b, nil
}

// bundleFromFile parses a SPIFFE bundle document or PEM CA certificates
// and validates the result with schema.ParseBundle.
func bundleFromFile(td string, data []byte, sequence uint64) (*meshfedv1.Bundle, error) {
	if err := schema.ValidateTrustDomain("bundle", "trust_domain", td); err != nil {
		return nil, err
	}
	id := spiffeid.RequireTrustDomainFromString(td)
	var sb *spiffebundle.Bundle
	jwks := data
	if bytes.Contains(data, []byte("-----BEGIN")) {
		xb, err := x509bundle.Parse(id, data)
		if err != nil {
			return nil, fmt.Errorf("not PEM CA certificates: %w", err)
		}
		if len(xb.X509Authorities()) == 0 {
			return nil, errors.New("holds PEM blocks but no CERTIFICATE (want the trust domain's CA certificates)")
		}
		sb = spiffebundle.FromX509Authorities(id, xb.X509Authorities())
		if sequence == 0 {
			sequence = 1
		}
	} else {
		var err error
		if sb, err = spiffebundle.Parse(id, data); err != nil {
			return nil, fmt.Errorf("neither a SPIFFE bundle document (JWKS) nor PEM certificates: %w", err)
		}
	}
	if sequence != 0 {
		sb.SetSequenceNumber(sequence)
		var err error
		if jwks, err = sb.Marshal(); err != nil {
			return nil, fmt.Errorf("encoding the bundle as JWKS: %w", err)
		}
	}
	b := &meshfedv1.Bundle{TrustDomain: td, Jwks: jwks}
	b.Sequence, _ = sb.SequenceNumber()
	if hint, ok := sb.RefreshHint(); ok {
		b.RefreshHintSeconds = int64(hint / time.Second)
	}
	if _, err := schema.ParseBundle(b); err != nil {
		return nil, err
	}
	return b, nil
}

// readInput reads path, or in when path is "-", refusing more than limit
// bytes.
func readInput(in io.Reader, path string, limit int) ([]byte, error) {
	r := in
	if path != "-" {
		f, err := os.Open(path)
		if err != nil {
			return nil, err
		}
		defer f.Close()
		r = f
	}
	data, err := io.ReadAll(io.LimitReader(r, int64(limit)+1))
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", displayName(path), err)
	}
	if len(data) > limit {
		return nil, fmt.Errorf("%s is larger than the %d bytes allowed", displayName(path), limit)
	}
	if len(bytes.TrimSpace(data)) == 0 {
		return nil, fmt.Errorf("%s is empty", displayName(path))
	}
	return data, nil
}

// displayName names an input file in messages; "-" is standard input.
func displayName(path string) string {
	if path == "-" {
		return "standard input"
	}
	return path
}
