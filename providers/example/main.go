package main

import (
	"context"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	providersv1 "github.com/meshfed/meshfed/proto/providers/v1"
	"github.com/meshfed/meshfed/providers"
	"github.com/meshfed/meshfed/providers/distance"
)

type server struct {
	providersv1.UnimplementedProviderServer
	cfg struct {
		Region string `json:"region"`
		Zone   string `json:"zone"`
	}
}

// Configure is called by the host before anything else, with the JSON
// object from the host's configuration of this plugin.
func (s *server) Configure(_ context.Context, req *providersv1.ConfigureRequest) (*providersv1.ConfigureResponse, error) {
	if err := providers.DecodeConfig("example", req.GetConfig(), &s.cfg); err != nil || s.cfg.Region == "" {
		return nil, status.Errorf(codes.InvalidArgument, "example: config %q needs {\"region\": ...}", req.GetConfig())
	}
	return &providersv1.ConfigureResponse{Provider: "example"}, nil
}

func (s *server) Locality(context.Context, *providersv1.LocalityRequest) (*providersv1.LocalityResponse, error) {
	return &providersv1.LocalityResponse{
		Locality: &providersv1.Locality{Provider: "example", Region: s.cfg.Region, Zone: s.cfg.Zone},
	}, nil
}

func (s *server) Distance(_ context.Context, req *providersv1.DistanceRequest) (*providersv1.DistanceResponse, error) {
	return distance.Tiers(req.GetFrom(), req.GetTo()), nil
}

func main() {
	providers.Serve(&server{})
}
