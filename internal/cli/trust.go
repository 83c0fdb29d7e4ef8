package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"os"
	"sort"
	"strconv"
	"time"

	"github.com/spf13/cobra"
	"github.com/spiffe/go-spiffe/v2/bundle/spiffebundle"
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
		`  meshfed trust set eu-1.example.org --bundle eu-1-bundle.json
  meshfed trust endpoint eu-1.example.org --url https://spire.eu-1.example.org:8443 --profile https_web
  meshfed trust list`,
		newTrustListCommand(a), newTrustGetCommand(a), newTrustSetCommand(a), newTrustDeleteCommand(a),
		newTrustEndpointCommand(a), newTrustRefreshCommand(a))
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
		Short: "List trust bundles and bundle endpoints",
		Long: `List every trust domain with a stored bundle or a bundle endpoint: who
wrote the bundle (admin, a gateway, or an endpoint URL), its sequence
number, key count and age, and for trust domains fetched from a bundle
endpoint when the next fetch is due and the last fetch error.`,
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
			return printOutput(a.streams.Out, out.value, resp, func(w io.Writer) { bundleTable(w, resp, time.Now()) })
		})
	}
	return cmd
}

// maxErrorCell truncates the last error in the list table; trust show
// prints it whole.
const maxErrorCell = 80

func bundleTable(w io.Writer, resp *meshfedv1.ListBundlesResponse, now time.Time) {
	bundles := map[string]*meshfedv1.Bundle{}
	endpoints := map[string]*meshfedv1.BundleEndpoint{}
	for _, b := range resp.GetBundles() {
		bundles[b.GetTrustDomain()] = b
	}
	for _, e := range resp.GetEndpoints() {
		endpoints[e.GetTrustDomain()] = e
	}
	tds := sortedKeys(bundles)
	for _, td := range sortedKeys(endpoints) {
		if _, ok := bundles[td]; !ok {
			tds = append(tds, td)
		}
	}
	sort.Strings(tds)
	row(w, "TRUST DOMAIN", "SOURCE", "SEQUENCE", "KEYS", "AGE", "NEXT REFRESH", "LAST ERROR")
	for _, td := range tds {
		source, seq, keys, updated := "<none>", "<none>", "0", "<none>"
		if b, ok := bundles[td]; ok {
			source, seq, keys, updated = orNone(b.GetSource()), strconv.FormatUint(b.GetSequence(), 10), "?", age(b.GetUpdatedAt(), now)
			if sb, err := parseStored(b); err == nil {
				keys = strconv.Itoa(len(sb.X509Authorities()) + len(sb.JWTAuthorities()))
			}
		}
		next, lastErr := "-", "-"
		if e, ok := endpoints[td]; ok {
			next, lastErr = nextRefresh(e, now), orNone(e.GetLastError())
			if len(lastErr) > maxErrorCell {
				lastErr = lastErr[:maxErrorCell] + "..."
			}
		}
		row(w, td, source, seq, keys, updated, next, lastErr)
	}
}

// nextRefresh says when the fetcher next fetches e.
func nextRefresh(e *meshfedv1.BundleEndpoint, now time.Time) string {
	if e.GetNextRefresh() == nil || (e.GetRefreshRequestedAt() != nil && e.GetLastAttempt() != nil && e.GetRefreshRequestedAt().AsTime().After(e.GetLastAttempt().AsTime())) {
		return "now"
	}
	d := e.GetNextRefresh().AsTime().Sub(now)
	if d <= 0 {
		return "now"
	}
	return "in " + d.Round(time.Second).String()
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
		Use:     "get TRUST_DOMAIN",
		Aliases: []string{"show"},
		Short:   "Show the trust bundle of one trust domain",
		Long: `Show a trust bundle: its source, sequence number, refresh hint, and the
X.509 and JWT authorities it holds. With -o json or yaml the JWKS document
is in the "jwks" field, base64-encoded. --format json prints the SPIFFE
bundle document itself, --format pem its X.509 authorities as PEM; called
as ` + "`trust show`" + ` it prints the document (json) by default.`,
		Example: `  meshfed trust show eu-1.example.org
  meshfed trust show eu-1.example.org --format json > eu-1.json
  meshfed trust show eu-1.example.org --format pem > eu-1-ca.pem`,
		Args: positional("TRUST_DOMAIN"),
	}
	out := addOutputFlag(cmd)
	format := &enumFlag{allowed: []string{"json", "pem"}}
	cmd.Flags().Var(format, "format", "print the bundle document: json (SPIFFE bundle, JWKS) or pem (X.509 authorities)")
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		td := args[0]
		if err := schema.ValidateTrustDomain("bundle", "trust_domain", td); err != nil {
			return err
		}
		if format.value != "" && cmd.Flags().Changed("output") {
			return usagef("--format and --output cannot be used together")
		}
		// `trust show` prints the bundle document itself unless told
		// otherwise; `trust get` prints the summary.
		if cmd.CalledAs() == "show" && format.value == "" && !cmd.Flags().Changed("output") {
			format.value = "json"
		}
		return a.call(cmd.Context(), func(ctx context.Context, s *session) error {
			resp, err := s.admin.GetBundle(ctx, &meshfedv1.GetBundleRequest{TrustDomain: td})
			if err != nil {
				return s.fail(err, fmt.Sprintf("trust bundle of %q", td))
			}
			switch format.value {
			case "json":
				return writeBundleJSON(a.streams.Out, resp.GetBundle())
			case "pem":
				return writeBundlePEM(a.streams.Out, resp.GetBundle())
			}
			return printOutput(a.streams.Out, out.value, resp, func(w io.Writer) { bundleDetail(w, resp.GetBundle()) })
		})
	}
	return cmd
}

// writeBundleJSON prints the stored SPIFFE bundle document, indented.
func writeBundleJSON(w io.Writer, b *meshfedv1.Bundle) error {
	var buf bytes.Buffer
	if err := json.Indent(&buf, b.GetJwks(), "", "  "); err != nil {
		return fmt.Errorf("trust bundle of %q: stored document is not JSON: %w", b.GetTrustDomain(), err)
	}
	buf.WriteByte('\n')
	_, err := w.Write(buf.Bytes())
	return err
}

// writeBundlePEM prints the X.509 authorities of a stored bundle as PEM.
func writeBundlePEM(w io.Writer, b *meshfedv1.Bundle) error {
	sb, err := parseStored(b)
	if err != nil {
		return fmt.Errorf("trust bundle of %q: cannot parse the stored document: %w", b.GetTrustDomain(), err)
	}
	if len(sb.X509Authorities()) == 0 {
		return fmt.Errorf("trust bundle of %q holds no X.509 authorities (only JWT keys); use --format json", b.GetTrustDomain())
	}
	for _, c := range sb.X509Authorities() {
		if err := pem.Encode(w, &pem.Block{Type: "CERTIFICATE", Bytes: c.Raw}); err != nil {
			return err
		}
	}
	return nil
}

func bundleDetail(w io.Writer, b *meshfedv1.Bundle) {
	row(w, "Trust domain:", b.GetTrustDomain())
	row(w, "Source:", orNone(b.GetSource()))
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
		Use:   "set TRUST_DOMAIN --bundle BUNDLE_FILE",
		Short: "Set the trust bundle of a trust domain",
		Long: `Set (create or replace) the trust bundle of a trust domain from a file,
"-" for standard input. The file is either a SPIFFE bundle document (a
JWKS, as served by a SPIFFE bundle endpoint or printed by
` + "`spire-server bundle show -format spiffe`" + `), whose spiffe_sequence and
spiffe_refresh_hint are kept, or PEM CA certificates, which become a
bundle with sequence 1 (or --sequence). The bundle is validated before the
control plane is contacted.`,
		Example: `  spire-server bundle show -format spiffe > eu-1.json
  meshfed trust set eu-1.example.org --bundle eu-1.json
  meshfed trust set onprem.example.org --bundle ca.pem --sequence 7`,
		Args: positional("TRUST_DOMAIN"),
	}
	out := addOutputFlag(cmd)
	cmd.Flags().StringVarP(&file, "bundle", "f", "", `bundle file, JWKS or PEM; "-" reads standard input (required)`)
	cmd.Flags().StringVar(&file, "file", "", "same as --bundle")
	cmd.MarkFlagsMutuallyExclusive("bundle", "file")
	cmd.Flags().Uint64Var(&sequence, "sequence", 0, "sequence number to record, overriding the file's")
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		td := args[0]
		if err := schema.ValidateTrustDomain("bundle", "trust_domain", td); err != nil {
			return err
		}
		if !cmd.Flags().Changed("file") && !cmd.Flags().Changed("bundle") {
			return usagef(`flag --bundle (or -f, --file) is required: bundle file, JWKS or PEM; "-" reads standard input`)
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
	sb, fromPEM, err := schema.ParseBundleDocument(spiffeid.RequireTrustDomainFromString(td), data)
	if err != nil {
		return nil, err
	}
	jwks := data
	if fromPEM && sequence == 0 {
		sequence = 1
	}
	if sequence != 0 {
		sb.SetSequenceNumber(sequence)
		if jwks, err = sb.Marshal(); err != nil {
			return nil, fmt.Errorf("encoding the bundle as JWKS: %w", err)
		}
	}
	// The server stores what CanonicalBundle makes of the document; the
	// CLI checks the same way before it dials.
	return schema.CanonicalBundle(&meshfedv1.Bundle{TrustDomain: td, Jwks: jwks}, "")
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

func newTrustEndpointCommand(a *app) *cobra.Command {
	var (
		url, profile, endpointID string
		del                      bool
	)
	cmd := &cobra.Command{
		Use:   "endpoint TRUST_DOMAIN --url URL --profile https_web|https_spiffe [--endpoint-id ID]",
		Short: "Fetch a trust domain's bundle from its SPIFFE bundle endpoint",
		Long: `Configure the SPIFFE bundle endpoint of a trust domain (for example its
SPIRE server's federation endpoint). The elected control-plane replica
fetches the bundle from it at once, then again per the bundle's refresh
hint (between 10 s and 1 h, 5 min without a hint), keeping the last good
bundle and backing off when a fetch fails; meshfed trust list shows the
next fetch and the last error.

Profile https_web authenticates the endpoint with Web PKI (the system
roots). Profile https_spiffe authenticates it with the trust domain's
currently stored bundle and --endpoint-id, the endpoint's SPIFFE ID: store
an initial bundle first with meshfed trust set. --delete stops fetching
and keeps the stored bundle.`,
		Example: `  meshfed trust endpoint eu-1.example.org --url https://spire.eu-1.example.org:8443 --profile https_web
  meshfed trust set eu-1.example.org --bundle eu-1.json
  meshfed trust endpoint eu-1.example.org --url https://10.0.0.5:8443 --profile https_spiffe \
      --endpoint-id spiffe://eu-1.example.org/spire/server
  meshfed trust endpoint eu-1.example.org --delete`,
		Args: positional("TRUST_DOMAIN"),
	}
	out := addOutputFlag(cmd)
	cmd.Flags().StringVar(&url, "url", "", "https URL of the bundle endpoint (required)")
	cmd.Flags().StringVar(&profile, "profile", "", "endpoint profile: https_web or https_spiffe (required)")
	cmd.Flags().StringVar(&endpointID, "endpoint-id", "", "SPIFFE ID of the endpoint (https_spiffe only)")
	cmd.Flags().BoolVar(&del, "delete", false, "stop fetching this trust domain's bundle (the stored bundle stays)")
	cmd.MarkFlagsMutuallyExclusive("delete", "url")
	cmd.MarkFlagsMutuallyExclusive("delete", "profile")
	cmd.MarkFlagsMutuallyExclusive("delete", "endpoint-id")
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		td := args[0]
		if err := schema.ValidateTrustDomain("bundle endpoint", "trust_domain", td); err != nil {
			return err
		}
		if del {
			return a.call(cmd.Context(), func(ctx context.Context, s *session) error {
				if _, err := s.admin.DeleteBundleEndpoint(ctx, &meshfedv1.DeleteBundleEndpointRequest{TrustDomain: td}); err != nil {
					return s.fail(err, fmt.Sprintf("bundle endpoint of %q", td))
				}
				fmt.Fprintf(a.streams.Out, "bundle endpoint of %q deleted; its stored bundle stays\n", td)
				return nil
			})
		}
		if err := requireFlags(cmd, "url", "profile"); err != nil {
			return err
		}
		e := &meshfedv1.BundleEndpoint{TrustDomain: td, Url: url, Profile: profile, EndpointSpiffeId: endpointID}
		if err := schema.ValidateBundleEndpoint(e); err != nil {
			return err
		}
		return a.call(cmd.Context(), func(ctx context.Context, s *session) error {
			resp, err := s.admin.PutBundleEndpoint(ctx, &meshfedv1.PutBundleEndpointRequest{Endpoint: e})
			if err != nil {
				return s.fail(err, fmt.Sprintf("bundle endpoint of %q", td))
			}
			return printOutput(a.streams.Out, out.value, resp, func(w io.Writer) {
				fmt.Fprintf(w, "bundle endpoint of %q set to %s (%s); fetching now, see meshfed trust list\n", td, url, profile)
			})
		})
	}
	return cmd
}

func newTrustRefreshCommand(a *app) *cobra.Command {
	return &cobra.Command{
		Use:   "refresh TRUST_DOMAIN",
		Short: "Fetch a trust domain's bundle from its bundle endpoint now",
		Long: `Ask the elected control-plane replica to fetch the bundle of a trust
domain from its configured bundle endpoint now, instead of waiting for the
next scheduled fetch. The command returns once the request is recorded;
meshfed trust list shows the outcome.`,
		Example: `  meshfed trust refresh eu-1.example.org
  meshfed trust list`,
		Args: positional("TRUST_DOMAIN"),
		RunE: func(cmd *cobra.Command, args []string) error {
			td := args[0]
			if err := schema.ValidateTrustDomain("bundle endpoint", "trust_domain", td); err != nil {
				return err
			}
			return a.call(cmd.Context(), func(ctx context.Context, s *session) error {
				if _, err := s.admin.RefreshBundle(ctx, &meshfedv1.RefreshBundleRequest{TrustDomain: td}); err != nil {
					return s.fail(err, fmt.Sprintf("bundle endpoint of %q", td))
				}
				fmt.Fprintf(a.streams.Out, "refresh of %q requested; see meshfed trust list\n", td)
				return nil
			})
		},
	}
}
