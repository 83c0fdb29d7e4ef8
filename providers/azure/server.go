package azure

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	providersv1 "github.com/meshfed/meshfed/proto/providers/v1"
	"github.com/meshfed/meshfed/providers"
	"github.com/meshfed/meshfed/providers/distance"
)

// Provider is the provider name this plugin reports.
const Provider = "azure"

// APIVersion is the IMDS API version the plugin asks for.
const APIVersion = "2021-02-01"

const defaultEndpoint = "http://169.254.169.254"

// Config is the plugin's configuration; zero values mean the defaults.
type Config struct {
	IMDSEndpoint string `json:"imds_endpoint"`
	Timeout      string `json:"timeout"`
	// MaxAttempts of a throttled or failing IMDS, ARM or Entra ID request
	// (default 3).
	MaxAttempts int `json:"max_attempts"`
	// ARMEndpoint is Azure Resource Manager's base URL (default
	// DefaultARMEndpoint); plain http only for a loopback host (tests).
	ARMEndpoint string `json:"arm_endpoint"`
	// ARMAudience is the resource a token for ARMEndpoint is asked for
	// (default DefaultARMAudience, Azure public cloud).
	ARMAudience string `json:"arm_audience"`
	// Subscription whose clusters DiscoverClusters lists (default the VM's).
	Subscription string `json:"subscription"`
	// APITimeout bounds one DiscoverClusters call, all pages and retries
	// included (default 5s).
	APITimeout string `json:"api_timeout"`

	// ClientID, TenantID and FederatedTokenFile select Azure Workload
	// Identity for ARM: all three or none (default the environment
	// variables EnvClientID, EnvTenantID and EnvFederatedTokenFile, which
	// the workload identity webhook sets). None: the VM's managed
	// identity from IMDS.
	ClientID           string `json:"client_id"`
	TenantID           string `json:"tenant_id"`
	FederatedTokenFile string `json:"federated_token_file"`
	// AuthorityHost is Microsoft Entra ID's base URL for workload
	// identity (default EnvAuthorityHost, else DefaultAuthorityHost).
	AuthorityHost string `json:"authority_host"`

	timeout    time.Duration
	apiTimeout time.Duration
}

// ParseConfig parses a configuration document strictly. Workload
// identity settings the document leaves empty are taken from getenv
// (os.Getenv in the plugin; nil: no environment).
func ParseConfig(b []byte, getenv func(string) string) (Config, error) {
	var c Config
	if err := providers.DecodeConfig("azure", b, &c); err != nil {
		return Config{}, err
	}
	if c.IMDSEndpoint == "" {
		c.IMDSEndpoint = defaultEndpoint
	}
	if u, err := url.Parse(c.IMDSEndpoint); err != nil || u.Scheme != "http" || u.Host == "" || u.RawQuery != "" {
		return Config{}, fmt.Errorf("azure: config: imds_endpoint %q is not an http URL (IMDS is plain HTTP)", c.IMDSEndpoint)
	}
	c.IMDSEndpoint = strings.TrimSuffix(c.IMDSEndpoint, "/")
	c.timeout = 2 * time.Second
	if c.Timeout != "" {
		d, err := time.ParseDuration(c.Timeout)
		if err != nil || d <= 0 {
			return Config{}, fmt.Errorf("azure: config: timeout %q is not a positive duration such as \"2s\"", c.Timeout)
		}
		c.timeout = d
	}
	if c.MaxAttempts < 0 || c.MaxAttempts > 10 {
		return Config{}, fmt.Errorf("azure: config: max_attempts %d is not between 1 and 10", c.MaxAttempts)
	}
	if c.MaxAttempts == 0 {
		c.MaxAttempts = 3
	}
	if err := c.parseARM(); err != nil {
		return Config{}, err
	}
	if getenv == nil {
		getenv = func(string) string { return "" }
	}
	if err := c.parseWorkloadIdentity(getenv); err != nil {
		return Config{}, err
	}
	return c, nil
}

// Server is the Azure provider's gRPC service. Safe for concurrent use.
type Server struct {
	providersv1.UnimplementedProviderServer

	mu   sync.Mutex
	cfg  Config
	http *http.Client
	cred azcore.TokenCredential // for ARM; kept so its token cache outlives a call
}

// Configure parses the configuration, with the workload identity
// environment variables as defaults, and picks the ARM credential.
func (s *Server) Configure(_ context.Context, req *providersv1.ConfigureRequest) (*providersv1.ConfigureResponse, error) {
	cfg, err := ParseConfig(req.GetConfig(), os.Getenv)
	if err != nil {
		return nil, status.Error(codes.InvalidArgument, err.Error())
	}
	// IMDS must not be reached through a proxy.
	hc := &http.Client{Transport: &http.Transport{Proxy: nil}}
	var cred azcore.TokenCredential = &imdsCredential{cfg: cfg, hc: hc}
	if cfg.workloadIdentity() {
		if cred, err = newWorkloadCredential(cfg); err != nil {
			return nil, status.Error(codes.InvalidArgument, err.Error())
		}
	}
	s.mu.Lock()
	s.cfg, s.http, s.cred = cfg, hc, cred
	s.mu.Unlock()
	return &providersv1.ConfigureResponse{Provider: Provider}, nil
}

// instance fetches and parses the instance document.
func (s *Server) instance(ctx context.Context) (Instance, error) {
	cfg, hc, _, err := s.state()
	if err != nil {
		return Instance{}, err
	}
	u := cfg.IMDSEndpoint + "/metadata/instance?api-version=" + APIVersion
	body, err := fetch(ctx, cfg, hc, "instance metadata", u)
	if err != nil {
		return Instance{}, err
	}
	in, err := ParseInstance(body)
	if err != nil {
		return Instance{}, status.Errorf(codes.DataLoss, "azure: instance metadata %s: %v", u, err)
	}
	return in, nil
}

func (s *Server) state() (Config, *http.Client, azcore.TokenCredential, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.http == nil {
		return Config{}, nil, nil, status.Error(codes.FailedPrecondition, "azure: not configured")
	}
	return s.cfg, s.http, s.cred, nil
}

// fetch GETs an IMDS URL, retrying 429/5xx with exponential back-off as
// the IMDS documentation asks, and returns the body of a 200 reply.
func fetch(ctx context.Context, cfg Config, hc *http.Client, what, u string) ([]byte, error) {
	backoff := 100 * time.Millisecond
	for attempt := 1; ; attempt++ {
		code, body, err := get(ctx, hc, cfg.timeout, u)
		switch {
		case ctx.Err() == nil && errors.Is(err, context.DeadlineExceeded):
			return nil, status.Errorf(codes.Unavailable, "azure: %s %s: no answer within %s", what, u, cfg.timeout)
		case err != nil:
			return nil, status.Errorf(codes.Unavailable, "azure: %s %s: %v", what, u, err)
		case code == http.StatusOK:
			return body, nil
		case code == http.StatusNotFound:
			return nil, status.Errorf(codes.NotFound, "azure: %s %s: not found (HTTP 404)", what, u)
		case code == http.StatusTooManyRequests || code >= 500:
			if attempt >= cfg.MaxAttempts {
				return nil, status.Errorf(codes.Unavailable, "azure: %s %s: throttled or failing (HTTP %d) after %d attempts; retry later", what, u, code, attempt)
			}
		default:
			return nil, status.Errorf(codes.Unavailable, "azure: %s %s: HTTP %d: %.200s", what, u, code, body)
		}
		t := time.NewTimer(backoff)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil, status.FromContextError(ctx.Err()).Err()
		case <-t.C:
		}
		backoff *= 2
	}
}

func get(ctx context.Context, hc *http.Client, timeout time.Duration, u string) (int, []byte, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return 0, nil, err
	}
	req.Header.Set("Metadata", "true")
	resp, err := hc.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return 0, nil, ctx.Err()
		}
		return 0, nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil && ctx.Err() != nil {
		err = ctx.Err()
	}
	return resp.StatusCode, body, err
}

// Locality reads compute.location and compute.zone.
func (s *Server) Locality(ctx context.Context, _ *providersv1.LocalityRequest) (*providersv1.LocalityResponse, error) {
	in, err := s.instance(ctx)
	if err != nil {
		return nil, err
	}
	return &providersv1.LocalityResponse{
		Locality:   &providersv1.Locality{Provider: Provider, Region: in.Compute.Location, Zone: in.Zone()},
		InstanceId: in.Compute.VMID, Account: in.Compute.SubscriptionID,
	}, nil
}

// GatewayAddresses returns the first interface's public and private IPv4
// addresses, for a gateway on this VM (cluster empty).
func (s *Server) GatewayAddresses(ctx context.Context, req *providersv1.GatewayAddressesRequest) (*providersv1.GatewayAddressesResponse, error) {
	if req.GetCluster() != "" {
		return nil, status.Errorf(codes.Unimplemented, "azure: gateway addresses of cluster %q (from its load balancer) are not implemented; only the local VM's addresses are", req.GetCluster())
	}
	in, err := s.instance(ctx)
	if err != nil {
		return nil, err
	}
	resp := &providersv1.GatewayAddressesResponse{}
	if len(in.Network.Interface) == 0 || len(in.Network.Interface[0].IPv4.IPAddress) == 0 {
		return resp, nil
	}
	a := in.Network.Interface[0].IPv4.IPAddress[0]
	if a.PublicIPAddress != "" {
		resp.Addresses = append(resp.Addresses, &providersv1.GatewayAddress{Address: a.PublicIPAddress, Kind: providersv1.GatewayAddress_KIND_PUBLIC, Source: "instance-metadata"})
	}
	if a.PrivateIPAddress != "" {
		resp.Addresses = append(resp.Addresses, &providersv1.GatewayAddress{Address: a.PrivateIPAddress, Kind: providersv1.GatewayAddress_KIND_PRIVATE, Source: "instance-metadata"})
	}
	return resp, nil
}

// Distance uses the shipped tiers.
func (s *Server) Distance(_ context.Context, req *providersv1.DistanceRequest) (*providersv1.DistanceResponse, error) {
	return distance.Tiers(req.GetFrom(), req.GetTo()), nil
}
