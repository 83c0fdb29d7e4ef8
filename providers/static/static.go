package static

import (
	"context"
	"fmt"
	"sync"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	providersv1 "github.com/meshfed/meshfed/proto/providers/v1"
	"github.com/meshfed/meshfed/providers"
	"github.com/meshfed/meshfed/providers/distance"
)

// Name is the name the static provider is registered under.
const Name = "static"

// BuiltIn returns the static provider for a providers.Config.
func BuiltIn() providers.BuiltIn {
	return providers.BuiltIn{Name: Name, New: func() providersv1.ProviderServer { return &Server{} }}
}

// Config is the static provider's configuration.
type Config struct {
	Provider         string           `json:"provider"`
	Region           string           `json:"region"`
	Zone             string           `json:"zone"`
	InstanceID       string           `json:"instance_id"`
	Account          string           `json:"account"`
	Cluster          string           `json:"cluster"`
	GatewayAddresses []GatewayAddress `json:"gateway_addresses"`
	Clusters         []Cluster        `json:"clusters"`
}

// GatewayAddress is one configured gateway address; an empty Cluster
// means the local gateway.
type GatewayAddress struct {
	Cluster string `json:"cluster"`
	Address string `json:"address"`
	Kind    string `json:"kind"` // "public" or "private"
}

// Cluster is one configured cluster.
type Cluster struct {
	Name     string `json:"name"`
	Provider string `json:"provider"`
	Region   string `json:"region"`
	Zone     string `json:"zone"`
}

// ParseConfig parses a configuration document strictly: unknown fields and
// trailing data are errors. An empty document is an empty Config.
func ParseConfig(b []byte) (Config, error) {
	var c Config
	if err := providers.DecodeConfig("static", b, &c); err != nil {
		return Config{}, err
	}
	for _, a := range c.GatewayAddresses {
		if a.Address == "" {
			return Config{}, fmt.Errorf("static: config: gateway address of cluster %q is empty", a.Cluster)
		}
		if a.Kind != "public" && a.Kind != "private" {
			return Config{}, fmt.Errorf("static: config: gateway address %q: kind %q is not \"public\" or \"private\"", a.Address, a.Kind)
		}
	}
	for _, cl := range c.Clusters {
		if cl.Name == "" || cl.Provider == "" || cl.Region == "" {
			return Config{}, fmt.Errorf("static: config: cluster %q needs a name, provider and region", cl.Name)
		}
	}
	if (c.Provider == "") != (c.Region == "") {
		return Config{}, fmt.Errorf("static: config: provider %q and region %q must be set together", c.Provider, c.Region)
	}
	return c, nil
}

// Server is the static provider's gRPC service. Safe for concurrent use.
type Server struct {
	providersv1.UnimplementedProviderServer

	mu  sync.Mutex
	cfg Config
}

// Configure parses and keeps the configuration.
func (s *Server) Configure(_ context.Context, req *providersv1.ConfigureRequest) (*providersv1.ConfigureResponse, error) {
	cfg, err := ParseConfig(req.GetConfig())
	if err != nil {
		return nil, status.Error(codes.InvalidArgument, err.Error())
	}
	s.mu.Lock()
	s.cfg = cfg
	s.mu.Unlock()
	provider := cfg.Provider
	if provider == "" {
		provider = Name
	}
	return &providersv1.ConfigureResponse{Provider: provider}, nil
}

func (s *Server) config() Config {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.cfg
}

// Locality returns the configured locality.
func (s *Server) Locality(context.Context, *providersv1.LocalityRequest) (*providersv1.LocalityResponse, error) {
	c := s.config()
	if c.Provider == "" {
		return nil, status.Error(codes.FailedPrecondition, "static: no locality configured (set \"provider\" and \"region\" in the static provider's config)")
	}
	return &providersv1.LocalityResponse{
		Locality:   &providersv1.Locality{Provider: c.Provider, Region: c.Region, Zone: c.Zone},
		InstanceId: c.InstanceID, Account: c.Account, Cluster: c.Cluster,
	}, nil
}

// GatewayAddresses returns the configured addresses of req's cluster.
func (s *Server) GatewayAddresses(_ context.Context, req *providersv1.GatewayAddressesRequest) (*providersv1.GatewayAddressesResponse, error) {
	resp := &providersv1.GatewayAddressesResponse{}
	for _, a := range s.config().GatewayAddresses {
		if a.Cluster != req.GetCluster() {
			continue
		}
		kind := providersv1.GatewayAddress_KIND_PRIVATE
		if a.Kind == "public" {
			kind = providersv1.GatewayAddress_KIND_PUBLIC
		}
		resp.Addresses = append(resp.Addresses, &providersv1.GatewayAddress{Address: a.Address, Kind: kind, Source: "config"})
	}
	return resp, nil
}

// DiscoverClusters returns the configured clusters.
func (s *Server) DiscoverClusters(context.Context, *providersv1.DiscoverClustersRequest) (*providersv1.DiscoverClustersResponse, error) {
	resp := &providersv1.DiscoverClustersResponse{}
	for _, c := range s.config().Clusters {
		resp.Clusters = append(resp.Clusters, &providersv1.DiscoveredCluster{
			Name:     c.Name,
			Locality: &providersv1.Locality{Provider: c.Provider, Region: c.Region, Zone: c.Zone},
		})
	}
	return resp, nil
}

// Distance returns the shipped tiers.
func (s *Server) Distance(_ context.Context, req *providersv1.DistanceRequest) (*providersv1.DistanceResponse, error) {
	return distance.Tiers(req.GetFrom(), req.GetTo()), nil
}
