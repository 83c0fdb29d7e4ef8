package gcp

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"time"

	"cloud.google.com/go/compute/metadata"
	container "cloud.google.com/go/container/apiv1"
	"cloud.google.com/go/container/apiv1/containerpb"
	"github.com/googleapis/gax-go/v2"
	"github.com/googleapis/gax-go/v2/apierror"
	"golang.org/x/oauth2"
	"google.golang.org/api/googleapi"
	"google.golang.org/api/option"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	providersv1 "github.com/meshfed/meshfed/proto/providers/v1"
)

// DefaultGKEEndpoint is the GKE API's documented REST endpoint.
const DefaultGKEEndpoint = "https://container.googleapis.com"

const tokenPath = "instance/service-accounts/default/token"

// DiscoverClusters lists the GKE clusters of the configured (or the
// instance's) project in every location, through the GKE REST API
// (GET /v1/projects/PROJECT/locations/-/clusters) with the instance
// service account's token from the metadata server.
func (s *Server) DiscoverClusters(ctx context.Context, _ *providersv1.DiscoverClustersRequest) (*providersv1.DiscoverClustersResponse, error) {
	cfg, md, err := s.state()
	if err != nil {
		return nil, err
	}
	project := cfg.Project
	if project == "" {
		if project, err = s.get(ctx, "project/project-id", (*metadata.Client).ProjectIDWithContext); err != nil {
			return nil, err
		}
	}
	// WithHTTPClient bypasses the SDK's credential discovery: the token
	// comes from this plugin's metadata client, under its timeout.
	base := http.DefaultTransport.(*http.Transport).Clone()
	defer base.CloseIdleConnections()
	hc := &http.Client{Transport: &oauth2.Transport{
		Source: oauth2.ReuseTokenSource(nil, &metadataTokenSource{md: md, timeout: cfg.timeout}),
		Base:   base,
	}}
	client, err := container.NewClusterManagerRESTClient(ctx, option.WithEndpoint(cfg.GKEEndpoint), option.WithHTTPClient(hc))
	if err != nil {
		return nil, status.Errorf(codes.Internal, "gcp: GKE client for %s: %v", cfg.GKEEndpoint, err)
	}
	defer client.Close()

	parent := "projects/" + project + "/locations/-"
	what := fmt.Sprintf("GKE ListClusters %s (%s)", parent, cfg.GKEEndpoint)
	cctx, cancel := context.WithTimeout(ctx, cfg.apiTimeout)
	defer cancel()
	out, err := client.ListClusters(cctx, &containerpb.ListClustersRequest{Parent: parent},
		gax.WithRetry(func() gax.Retryer {
			return &boundedRetryer{
				Retryer:  gax.OnHTTPCodes(gax.Backoff{Initial: 100 * time.Millisecond, Max: 2 * time.Second, Multiplier: 2}, http.StatusTooManyRequests, http.StatusServiceUnavailable, http.StatusGatewayTimeout),
				attempts: cfg.MaxAttempts,
			}
		}))
	if err != nil {
		return nil, gkeError(ctx, cctx, cfg, what, err)
	}
	if len(out.GetMissingZones()) > 0 {
		return nil, status.Errorf(codes.Unavailable, "gcp: %s: zones %s did not answer, so the list is incomplete; retry later", what, strings.Join(out.GetMissingZones(), ", "))
	}
	resp := &providersv1.DiscoverClustersResponse{}
	for _, c := range out.GetClusters() {
		dc, err := ClusterFromGKE(project, c)
		if err != nil {
			return nil, status.Errorf(codes.DataLoss, "gcp: %s: %v", what, err)
		}
		resp.Clusters = append(resp.Clusters, dc)
	}
	return resp, nil
}

var (
	gkeZoneRE   = regexp.MustCompile(`^([a-z]+-[a-z]+[0-9]+)-[a-z]$`)
	gkeRegionRE = regexp.MustCompile(`^[a-z]+-[a-z]+[0-9]+$`)
)

// ClusterFromGKE maps a GKE cluster to a discovered cluster. Its location
// is a zone ("europe-west1-b", a zonal cluster) or a region
// ("europe-west1", a regional cluster, which has no single zone).
func ClusterFromGKE(project string, c *containerpb.Cluster) (*providersv1.DiscoveredCluster, error) {
	loc := c.GetLocation()
	if loc == "" {
		//lint:ignore SA1019 replies that predate "location" fill only the deprecated "zone"
		loc = c.GetZone()
	}
	l := &providersv1.Locality{Provider: Provider}
	if m := gkeZoneRE.FindStringSubmatch(loc); m != nil {
		l.Region, l.Zone = m[1], loc
	} else if gkeRegionRE.MatchString(loc) {
		l.Region = loc
	} else {
		return nil, fmt.Errorf("cluster %q: location %q is neither a GCP region nor a zone", c.GetName(), loc)
	}
	if c.GetName() == "" {
		return nil, errors.New("a cluster without a name")
	}
	dc := &providersv1.DiscoveredCluster{
		Name:     c.GetName(),
		Locality: l,
		Id:       "projects/" + project + "/locations/" + loc + "/clusters/" + c.GetName(),
	}
	if c.GetEndpoint() != "" {
		dc.Endpoint = "https://" + c.GetEndpoint()
	}
	if c.GetStatus() != containerpb.Cluster_STATUS_UNSPECIFIED {
		dc.Status = c.GetStatus().String()
	}
	return dc, nil
}

// gkeError turns a GKE client error into a status naming the call.
func gkeError(ctx, cctx context.Context, cfg Config, what string, err error) error {
	var te *tokenError
	var ge *googleapi.Error
	var ae *apierror.APIError
	code := 0
	if errors.As(err, &ge) {
		code = ge.Code
	} else if errors.As(err, &ae) {
		code = ae.HTTPCode()
	}
	switch {
	case errors.As(err, &te):
		return status.Errorf(codes.Unavailable, "gcp: %s: no access token from the metadata server: %v", what, te.err)
	case ctx.Err() == nil && errors.Is(cctx.Err(), context.DeadlineExceeded):
		return status.Errorf(codes.Unavailable, "gcp: %s: no answer within %s", what, cfg.apiTimeout)
	case code == http.StatusForbidden || code == http.StatusUnauthorized:
		return status.Errorf(codes.PermissionDenied, "gcp: %s: denied (HTTP %d); grant the instance's service account container.clusters.list: %v", what, code, err)
	case code == http.StatusNotFound:
		return status.Errorf(codes.NotFound, "gcp: %s: not found (HTTP 404): %v", what, err)
	case code == http.StatusTooManyRequests || code >= 500:
		return status.Errorf(codes.Unavailable, "gcp: %s: throttled or failing (HTTP %d) after %d attempts; retry later", what, code, cfg.MaxAttempts)
	case code != 0:
		return status.Errorf(codes.Unavailable, "gcp: %s: HTTP %d: %v", what, code, err)
	case isTransport(err):
		return status.Errorf(codes.Unavailable, "gcp: %s: %v", what, err)
	default:
		// The client read a 200 reply it could not decode.
		return status.Errorf(codes.DataLoss, "gcp: %s: reply is not a valid ListClustersResponse: %v", what, err)
	}
}

// boundedRetryer stops retrying after the configured number of attempts.
type boundedRetryer struct {
	gax.Retryer
	attempts int
	n        int
}

func (r *boundedRetryer) Retry(err error) (time.Duration, bool) {
	r.n++
	if r.n >= r.attempts {
		return 0, false
	}
	return r.Retryer.Retry(err)
}

// metadataTokenSource gets the default service account's access token
// from the metadata server (documented reply: access_token, expires_in,
// token_type).
type metadataTokenSource struct {
	md      *metadata.Client
	timeout time.Duration
}

// tokenError marks a failure to get a token, so it is not mistaken for a
// failure of the API.
type tokenError struct{ err error }

func (e *tokenError) Error() string { return "metadata " + tokenPath + ": " + e.err.Error() }
func (e *tokenError) Unwrap() error { return e.err }

func (ts *metadataTokenSource) Token() (*oauth2.Token, error) {
	ctx, cancel := context.WithTimeout(context.Background(), ts.timeout)
	defer cancel()
	raw, err := ts.md.GetWithContext(ctx, tokenPath)
	if err != nil {
		var he *metadata.Error
		var nd metadata.NotDefinedError
		switch {
		case errors.As(err, &nd):
			err = errors.New("not defined (HTTP 404); does the instance have a service account?")
		case errors.As(err, &he):
			err = fmt.Errorf("HTTP %d", he.Code)
		case errors.Is(ctx.Err(), context.DeadlineExceeded):
			err = fmt.Errorf("no answer within %s", ts.timeout)
		}
		return nil, &tokenError{err}
	}
	tok, err := ParseToken([]byte(raw), time.Now())
	if err != nil {
		return nil, &tokenError{err}
	}
	return tok, nil
}

// ParseToken parses the metadata server's token reply, received at now.
func ParseToken(b []byte, now time.Time) (*oauth2.Token, error) {
	var r struct {
		AccessToken string `json:"access_token"`
		ExpiresIn   int64  `json:"expires_in"`
		TokenType   string `json:"token_type"`
	}
	if err := json.Unmarshal(b, &r); err != nil {
		return nil, fmt.Errorf("reply is not valid JSON: %w", err)
	}
	if r.AccessToken == "" || r.ExpiresIn <= 0 || r.ExpiresIn > 1<<31 {
		return nil, fmt.Errorf("reply has no access_token or no positive expires_in")
	}
	if r.TokenType == "" {
		r.TokenType = "Bearer"
	}
	return &oauth2.Token{AccessToken: r.AccessToken, TokenType: r.TokenType, Expiry: now.Add(time.Duration(r.ExpiresIn) * time.Second)}, nil
}

func isLoopback(host string) bool {
	ip := net.ParseIP(host)
	return host == "localhost" || ip != nil && ip.IsLoopback()
}

func isTransport(err error) bool {
	var ue *url.Error
	var ne net.Error
	return errors.As(err, &ue) || errors.As(err, &ne)
}
