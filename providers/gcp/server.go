package gcp

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"regexp"
	"strings"
	"sync"
	"time"

	"cloud.google.com/go/compute/metadata"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	providersv1 "github.com/meshfed/meshfed/proto/providers/v1"
	"github.com/meshfed/meshfed/providers"
	"github.com/meshfed/meshfed/providers/distance"
)

// Provider is the provider name this plugin reports.
const Provider = "gcp"

// Config is the plugin's configuration; zero values mean the defaults.
type Config struct {
	MetadataHost string `json:"metadata_host"`
	Timeout      string `json:"timeout"`
	// GKEEndpoint is the GKE API's base URL (default DefaultGKEEndpoint).
	GKEEndpoint string `json:"gke_endpoint"`
	// Project whose clusters DiscoverClusters lists (default the instance's).
	Project string `json:"project"`
	// APITimeout bounds one DiscoverClusters call, retries included (default 5s).
	APITimeout string `json:"api_timeout"`
	// MaxAttempts of a throttled or failing GKE request (default 3).
	MaxAttempts int `json:"max_attempts"`

	timeout    time.Duration
	apiTimeout time.Duration
}

// ParseConfig parses a configuration document strictly.
func ParseConfig(b []byte) (Config, error) {
	var c Config
	if err := providers.DecodeConfig("gcp", b, &c); err != nil {
		return Config{}, err
	}
	if c.MetadataHost != "" {
		host := c.MetadataHost
		if h, _, err := net.SplitHostPort(host); err == nil {
			host = h
		}
		if host == "" || strings.ContainsAny(c.MetadataHost, "/?#@ ") {
			return Config{}, fmt.Errorf("gcp: config: metadata_host %q is not host[:port]", c.MetadataHost)
		}
	}
	c.timeout = 2 * time.Second
	if c.Timeout != "" {
		d, err := time.ParseDuration(c.Timeout)
		if err != nil || d <= 0 {
			return Config{}, fmt.Errorf("gcp: config: timeout %q is not a positive duration such as \"2s\"", c.Timeout)
		}
		c.timeout = d
	}
	if c.GKEEndpoint == "" {
		c.GKEEndpoint = DefaultGKEEndpoint
	}
	if u, err := url.Parse(c.GKEEndpoint); err != nil || u.Host == "" || u.RawQuery != "" || u.User != nil || (u.Scheme != "https" && !(u.Scheme == "http" && isLoopback(u.Hostname()))) {
		return Config{}, fmt.Errorf("gcp: config: gke_endpoint %q is not an https URL such as %q (plain http only on loopback)", c.GKEEndpoint, DefaultGKEEndpoint)
	}
	c.GKEEndpoint = strings.TrimSuffix(c.GKEEndpoint, "/")
	if c.Project != "" && !projectRE.MatchString(c.Project) {
		return Config{}, fmt.Errorf("gcp: config: project %q is not a GCP project ID (6-30 lowercase letters, digits, '-')", c.Project)
	}
	c.apiTimeout = 5 * time.Second
	if c.APITimeout != "" {
		d, err := time.ParseDuration(c.APITimeout)
		if err != nil || d <= 0 {
			return Config{}, fmt.Errorf("gcp: config: api_timeout %q is not a positive duration such as \"5s\"", c.APITimeout)
		}
		c.apiTimeout = d
	}
	if c.MaxAttempts < 0 || c.MaxAttempts > 10 {
		return Config{}, fmt.Errorf("gcp: config: max_attempts %d is not between 1 and 10", c.MaxAttempts)
	}
	if c.MaxAttempts == 0 {
		c.MaxAttempts = 3
	}
	return c, nil
}

var projectRE = regexp.MustCompile(`^[a-z][a-z0-9-]{4,28}[a-z0-9]$`)

// Server is the Google Cloud provider's gRPC service. Safe for concurrent use.
type Server struct {
	providersv1.UnimplementedProviderServer

	mu  sync.Mutex
	cfg Config
	md  *metadata.Client
}

// Configure parses the configuration. The metadata package reads its
// endpoint override from GCE_METADATA_HOST on every request, so the
// plugin (a process of its own) sets it.
func (s *Server) Configure(_ context.Context, req *providersv1.ConfigureRequest) (*providersv1.ConfigureResponse, error) {
	cfg, err := ParseConfig(req.GetConfig())
	if err != nil {
		return nil, status.Error(codes.InvalidArgument, err.Error())
	}
	if cfg.MetadataHost != "" {
		if err := os.Setenv("GCE_METADATA_HOST", cfg.MetadataHost); err != nil {
			return nil, status.Errorf(codes.Internal, "gcp: set GCE_METADATA_HOST: %v", err)
		}
	}
	s.mu.Lock()
	s.cfg = cfg
	s.md = metadata.NewWithOptions(&metadata.Options{Client: &http.Client{Transport: &http.Transport{Proxy: nil}}})
	s.mu.Unlock()
	return &providersv1.ConfigureResponse{Provider: Provider}, nil
}

func (s *Server) state() (Config, *metadata.Client, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.md == nil {
		return Config{}, nil, status.Error(codes.FailedPrecondition, "gcp: not configured")
	}
	return s.cfg, s.md, nil
}

// get reads one metadata value under the configured timeout.
func (s *Server) get(ctx context.Context, what string, f func(*metadata.Client, context.Context) (string, error)) (string, error) {
	cfg, md, err := s.state()
	if err != nil {
		return "", err
	}
	cctx, cancel := context.WithTimeout(ctx, cfg.timeout)
	defer cancel()
	v, err := f(md, cctx)
	if err == nil {
		return strings.TrimSpace(v), nil
	}
	where := os.Getenv("GCE_METADATA_HOST")
	if where == "" {
		where = "default metadata server"
	}
	var nd metadata.NotDefinedError
	var he *metadata.Error
	switch {
	case ctx.Err() == nil && errors.Is(cctx.Err(), context.DeadlineExceeded):
		return "", status.Errorf(codes.Unavailable, "gcp: metadata %s (%s): no answer within %s", what, where, cfg.timeout)
	case errors.As(err, &nd):
		return "", status.Errorf(codes.NotFound, "gcp: metadata %s (%s): not defined (HTTP 404)", what, where)
	case errors.As(err, &he) && (he.Code == http.StatusTooManyRequests || he.Code >= 500):
		return "", status.Errorf(codes.Unavailable, "gcp: metadata %s (%s): throttled or failing (HTTP %d) after retries; retry later", what, where, he.Code)
	case errors.As(err, &he):
		return "", status.Errorf(codes.Unavailable, "gcp: metadata %s (%s): HTTP %d: %s", what, where, he.Code, he.Message)
	default:
		return "", status.Errorf(codes.Unavailable, "gcp: metadata %s (%s): %v", what, where, err)
	}
}

var zoneRE = regexp.MustCompile(`^projects/[0-9]+/zones/([a-z]+-[a-z]+[0-9]+)-([a-z])$`)

// ParseZone parses instance/zone ("projects/NUMBER/zones/ZONE") into the
// zone and its region.
func ParseZone(v string) (zone, region string, err error) {
	m := zoneRE.FindStringSubmatch(v)
	if m == nil {
		return "", "", fmt.Errorf("instance/zone %q is not of the form projects/NUMBER/zones/REGION-X", v)
	}
	return m[1] + "-" + m[2], m[1], nil
}

// Locality reads the zone, project, instance ID and GKE cluster name.
func (s *Server) Locality(ctx context.Context, _ *providersv1.LocalityRequest) (*providersv1.LocalityResponse, error) {
	raw, err := s.get(ctx, "instance/zone", func(md *metadata.Client, ctx context.Context) (string, error) {
		return md.GetWithContext(ctx, "instance/zone")
	})
	if err != nil {
		return nil, err
	}
	zone, region, err := ParseZone(raw)
	if err != nil {
		return nil, status.Errorf(codes.DataLoss, "gcp: metadata: %v", err)
	}
	project, err := s.get(ctx, "project/project-id", (*metadata.Client).ProjectIDWithContext)
	if err != nil {
		return nil, err
	}
	id, err := s.get(ctx, "instance/id", (*metadata.Client).InstanceIDWithContext)
	if err != nil {
		return nil, err
	}
	cluster, err := s.get(ctx, "instance/attributes/cluster-name", func(md *metadata.Client, ctx context.Context) (string, error) {
		return md.InstanceAttributeValueWithContext(ctx, "cluster-name")
	})
	if status.Code(err) == codes.NotFound {
		cluster, err = "", nil // not a GKE node
	}
	if err != nil {
		return nil, err
	}
	return &providersv1.LocalityResponse{
		Locality:   &providersv1.Locality{Provider: Provider, Region: region, Zone: zone},
		InstanceId: id, Account: project, Cluster: cluster,
	}, nil
}

// GatewayAddresses returns the instance's external and internal IP, for a
// gateway on this instance (cluster empty).
func (s *Server) GatewayAddresses(ctx context.Context, req *providersv1.GatewayAddressesRequest) (*providersv1.GatewayAddressesResponse, error) {
	if req.GetCluster() != "" {
		return nil, status.Errorf(codes.Unimplemented, "gcp: gateway addresses of cluster %q (from its load balancer) are not implemented; only the local instance's addresses are", req.GetCluster())
	}
	resp := &providersv1.GatewayAddressesResponse{}
	ext, err := s.get(ctx, "external IP", (*metadata.Client).ExternalIPWithContext)
	switch {
	case status.Code(err) == codes.NotFound: // no external address
	case err != nil:
		return nil, err
	default:
		resp.Addresses = append(resp.Addresses, &providersv1.GatewayAddress{Address: ext, Kind: providersv1.GatewayAddress_KIND_PUBLIC, Source: "instance-metadata"})
	}
	in, err := s.get(ctx, "internal IP", (*metadata.Client).InternalIPWithContext)
	if err != nil {
		return nil, err
	}
	resp.Addresses = append(resp.Addresses, &providersv1.GatewayAddress{Address: in, Kind: providersv1.GatewayAddress_KIND_PRIVATE, Source: "instance-metadata"})
	return resp, nil
}

// Distance uses the shipped tiers.
func (s *Server) Distance(_ context.Context, req *providersv1.DistanceRequest) (*providersv1.DistanceResponse, error) {
	return distance.Tiers(req.GetFrom(), req.GetTo()), nil
}
