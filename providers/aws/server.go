package aws

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"

	sdkaws "github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/feature/ec2/imds"
	"github.com/aws/aws-sdk-go-v2/service/eks"
	"github.com/aws/smithy-go"
	smithyhttp "github.com/aws/smithy-go/transport/http"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	providersv1 "github.com/meshfed/meshfed/proto/providers/v1"
	"github.com/meshfed/meshfed/providers/distance"
)

// Provider is the provider name this plugin reports.
const Provider = "aws"

// Server is the AWS provider's gRPC service. Safe for concurrent use.
type Server struct {
	providersv1.UnimplementedProviderServer

	mu   sync.Mutex
	cfg  Config
	imds *imds.Client
}

// Configure parses the configuration and builds the IMDS client.
func (s *Server) Configure(_ context.Context, req *providersv1.ConfigureRequest) (*providersv1.ConfigureResponse, error) {
	cfg, err := ParseConfig(req.GetConfig())
	if err != nil {
		return nil, status.Error(codes.InvalidArgument, err.Error())
	}
	s.mu.Lock()
	s.cfg, s.imds = cfg, newIMDS(cfg)
	s.mu.Unlock()
	return &providersv1.ConfigureResponse{Provider: Provider}, nil
}

func newIMDS(cfg Config) *imds.Client {
	return imds.New(imds.Options{
		Endpoint:       cfg.IMDSEndpoint,
		EnableFallback: sdkaws.FalseTernary, // IMDSv2 only
		Retryer:        retry.AddWithMaxAttempts(retry.NewStandard(), cfg.MaxAttempts),
		HTTPClient:     unauthorizedRecorder{&http.Client{}},
	})
}

// The SDK hides a 401 inside an error without Unwrap, so the HTTP client
// notes it in the call's context instead.
type unauthorizedKey struct{}

type unauthorizedRecorder struct{ c *http.Client }

func (u unauthorizedRecorder) Do(r *http.Request) (*http.Response, error) {
	resp, err := u.c.Do(r)
	if err == nil && resp.StatusCode == http.StatusUnauthorized {
		if seen, ok := r.Context().Value(unauthorizedKey{}).(*atomic.Bool); ok {
			seen.Store(true)
		}
	}
	return resp, err
}

func (s *Server) state() (Config, *imds.Client, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.imds == nil {
		return Config{}, nil, status.Error(codes.FailedPrecondition, "aws: not configured")
	}
	return s.cfg, s.imds, nil
}

// withIMDS runs f with the IMDS client; when the metadata service refuses
// the session token (401: expired or revoked), the client and its cached
// token are dropped and f runs once more with a fresh token.
func withIMDS[T any](ctx context.Context, s *Server, what string, f func(context.Context, *imds.Client) (T, error)) (T, error) {
	cfg, c, err := s.state()
	if err != nil {
		var zero T
		return zero, err
	}
	var unauthorized atomic.Bool
	call := func(c *imds.Client) (T, error) {
		unauthorized.Store(false)
		return timed(context.WithValue(ctx, unauthorizedKey{}, &unauthorized), cfg, func(ctx context.Context) (T, error) { return f(ctx, c) })
	}
	v, err := call(c)
	if err != nil && unauthorized.Load() {
		fresh := newIMDS(cfg)
		s.mu.Lock()
		if s.imds == c {
			s.imds = fresh
		}
		s.mu.Unlock()
		v, err = call(fresh)
	}
	if err != nil && unauthorized.Load() {
		return v, status.Errorf(codes.Unavailable, "aws: instance metadata %s (%s): the metadata service refused a fresh IMDSv2 session token too (HTTP 401)", what, endpoint(cfg.IMDSEndpoint))
	}
	if err != nil {
		return v, fail(ctx, cfg, "instance metadata "+what, err)
	}
	return v, nil
}

// Locality reads the instance identity document.
func (s *Server) Locality(ctx context.Context, _ *providersv1.LocalityRequest) (*providersv1.LocalityResponse, error) {
	doc, err := withIMDS(ctx, s, "instance identity document", func(ctx context.Context, c *imds.Client) (*imds.GetInstanceIdentityDocumentOutput, error) {
		return c.GetInstanceIdentityDocument(ctx, &imds.GetInstanceIdentityDocumentInput{})
	})
	if err != nil {
		return nil, err
	}
	resp, err := LocalityFromDocument(doc.InstanceIdentityDocument)
	if err != nil {
		cfg, _, _ := s.state()
		return nil, status.Errorf(codes.DataLoss, "aws: instance identity document (%s): %v", endpoint(cfg.IMDSEndpoint), err)
	}
	return resp, nil
}

// LocalityFromDocument checks an instance identity document and turns it
// into a locality: a region and an availability zone of that region are
// required.
func LocalityFromDocument(d imds.InstanceIdentityDocument) (*providersv1.LocalityResponse, error) {
	if d.Region == "" || d.AvailabilityZone == "" {
		return nil, fmt.Errorf("region %q and availabilityZone %q; both are required", d.Region, d.AvailabilityZone)
	}
	if !strings.HasPrefix(d.AvailabilityZone, d.Region) {
		return nil, fmt.Errorf("availabilityZone %q is not in region %q", d.AvailabilityZone, d.Region)
	}
	return &providersv1.LocalityResponse{
		Locality:   &providersv1.Locality{Provider: Provider, Region: d.Region, Zone: d.AvailabilityZone},
		InstanceId: d.InstanceID,
		Account:    d.AccountID,
	}, nil
}

// GatewayAddresses returns the instance's public and private IPv4
// addresses, for a gateway on this instance (cluster empty).
func (s *Server) GatewayAddresses(ctx context.Context, req *providersv1.GatewayAddressesRequest) (*providersv1.GatewayAddressesResponse, error) {
	if req.GetCluster() != "" {
		return nil, status.Errorf(codes.Unimplemented, "aws: gateway addresses of cluster %q (from its load balancer) are not implemented; only the local instance's addresses are", req.GetCluster())
	}
	resp := &providersv1.GatewayAddressesResponse{}
	for _, a := range []struct {
		path string
		kind providersv1.GatewayAddress_Kind
	}{{"public-ipv4", providersv1.GatewayAddress_KIND_PUBLIC}, {"local-ipv4", providersv1.GatewayAddress_KIND_PRIVATE}} {
		ip, err := withIMDS(ctx, s, a.path, func(ctx context.Context, c *imds.Client) (string, error) {
			out, err := c.GetMetadata(ctx, &imds.GetMetadataInput{Path: a.path})
			if err != nil {
				return "", err
			}
			defer out.Content.Close()
			b, err := io.ReadAll(io.LimitReader(out.Content, 256))
			return strings.TrimSpace(string(b)), err
		})
		if status.Code(err) == codes.NotFound && a.kind == providersv1.GatewayAddress_KIND_PUBLIC {
			continue // no public address
		}
		if err != nil {
			return nil, err
		}
		resp.Addresses = append(resp.Addresses, &providersv1.GatewayAddress{Address: ip, Kind: a.kind, Source: "instance-metadata"})
	}
	return resp, nil
}

// DiscoverClusters lists the EKS clusters of the configured (or the
// instance's) region.
func (s *Server) DiscoverClusters(ctx context.Context, _ *providersv1.DiscoverClustersRequest) (*providersv1.DiscoverClustersResponse, error) {
	cfg, _, err := s.state()
	if err != nil {
		return nil, err
	}
	region := cfg.Region
	if region == "" {
		loc, err := s.Locality(ctx, nil)
		if err != nil {
			return nil, err
		}
		region = loc.GetLocality().GetRegion()
	}
	opts := []func(*awsconfig.LoadOptions) error{awsconfig.WithRegion(region), awsconfig.WithRetryMaxAttempts(cfg.MaxAttempts)}
	if cfg.IMDSEndpoint != "" {
		opts = append(opts, awsconfig.WithEC2IMDSEndpoint(cfg.IMDSEndpoint))
	}
	awsCfg, err := awsconfig.LoadDefaultConfig(ctx, opts...)
	if err != nil {
		return nil, status.Errorf(codes.FailedPrecondition, "aws: SDK configuration: %v", err)
	}
	client := eks.NewFromConfig(awsCfg, func(o *eks.Options) {
		if cfg.EKSEndpoint != "" {
			o.BaseEndpoint = sdkaws.String(cfg.EKSEndpoint)
		}
	})
	resp := &providersv1.DiscoverClustersResponse{}
	pages := eks.NewListClustersPaginator(client, &eks.ListClustersInput{})
	for pages.HasMorePages() {
		page, err := timed(ctx, cfg, func(ctx context.Context) (*eks.ListClustersOutput, error) { return pages.NextPage(ctx) })
		if err != nil {
			return nil, fail(ctx, cfg, "EKS ListClusters in "+region, err)
		}
		for _, name := range page.Clusters {
			out, err := timed(ctx, cfg, func(ctx context.Context) (*eks.DescribeClusterOutput, error) {
				return client.DescribeCluster(ctx, &eks.DescribeClusterInput{Name: sdkaws.String(name)})
			})
			if err != nil {
				return nil, fail(ctx, cfg, fmt.Sprintf("EKS DescribeCluster %q in %s", name, region), err)
			}
			c := out.Cluster
			if c == nil {
				return nil, status.Errorf(codes.DataLoss, "aws: EKS DescribeCluster %q: no cluster in the reply", name)
			}
			resp.Clusters = append(resp.Clusters, &providersv1.DiscoveredCluster{
				Name:     sdkaws.ToString(c.Name),
				Locality: &providersv1.Locality{Provider: Provider, Region: region},
				Id:       sdkaws.ToString(c.Arn),
				Endpoint: sdkaws.ToString(c.Endpoint),
				Status:   string(c.Status),
			})
		}
	}
	return resp, nil
}

// timed runs f under the configured per-request timeout; when that
// timeout (not the caller's context) ends it, the error says so.
func timed[T any](ctx context.Context, cfg Config, f func(context.Context) (T, error)) (T, error) {
	cctx, cancel := context.WithTimeout(ctx, cfg.timeout)
	defer cancel()
	v, err := f(cctx)
	if err != nil && ctx.Err() == nil && errors.Is(cctx.Err(), context.DeadlineExceeded) {
		err = fmt.Errorf("%w: %w", errTimeout, err)
	}
	return v, err
}

var errTimeout = errors.New("request timed out")

// Distance uses the shipped tiers.
func (s *Server) Distance(_ context.Context, req *providersv1.DistanceRequest) (*providersv1.DistanceResponse, error) {
	return distance.Tiers(req.GetFrom(), req.GetTo()), nil
}

func httpStatus(err error) int {
	var re *smithyhttp.ResponseError
	if errors.As(err, &re) {
		return re.HTTPStatusCode()
	}
	return 0
}

// fail turns an SDK error into a gRPC status whose message says what was
// asked, of which endpoint, and what went wrong.
func fail(ctx context.Context, cfg Config, what string, err error) error {
	where := endpoint(cfg.IMDSEndpoint)
	if strings.HasPrefix(what, "EKS") {
		where = endpoint(cfg.EKSEndpoint)
	}
	var de *smithy.DeserializationError
	switch code := httpStatus(err); {
	case errors.Is(err, errTimeout):
		return status.Errorf(codes.Unavailable, "aws: %s (%s): no answer within %s", what, where, cfg.timeout)
	case code == http.StatusNotFound:
		return status.Errorf(codes.NotFound, "aws: %s (%s): not found (HTTP 404)", what, where)
	case code == http.StatusTooManyRequests || code == http.StatusServiceUnavailable:
		return status.Errorf(codes.Unavailable, "aws: %s (%s): throttled (HTTP %d) after %d attempts; retry later", what, where, code, cfg.MaxAttempts)
	case code == http.StatusForbidden:
		return status.Errorf(codes.PermissionDenied, "aws: %s (%s): forbidden (HTTP 403): %v", what, where, err)
	case errors.As(err, &de):
		return status.Errorf(codes.DataLoss, "aws: %s (%s): reply is not valid JSON: %v", what, where, de.Err)
	case code != 0:
		return status.Errorf(codes.Unavailable, "aws: %s (%s): HTTP %d: %v", what, where, code, err)
	default:
		return status.Errorf(codes.Unavailable, "aws: %s (%s): %v", what, where, err)
	}
}

func endpoint(configured string) string {
	if configured == "" {
		return "default endpoint"
	}
	return configured
}
