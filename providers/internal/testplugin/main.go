package main

import (
	"context"
	"os"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	providersv1 "github.com/meshfed/meshfed/proto/providers/v1"
	"github.com/meshfed/meshfed/providers"
)

type config struct {
	Provider    string                `json:"provider"`
	Locality    *providersv1.Locality `json:"locality"`
	CrashMarker string                `json:"crash_marker"`
	SleepMS     int                   `json:"sleep_ms"`
	Unavailable bool                  `json:"unavailable"`
}

type server struct {
	providersv1.UnimplementedProviderServer
	cfg config
}

func (s *server) Configure(_ context.Context, req *providersv1.ConfigureRequest) (*providersv1.ConfigureResponse, error) {
	if err := providers.DecodeConfig("test", req.GetConfig(), &s.cfg); err != nil {
		return nil, status.Errorf(codes.InvalidArgument, "testplugin: config: %v", err)
	}
	return &providersv1.ConfigureResponse{Provider: s.cfg.Provider}, nil
}

func (s *server) Locality(context.Context, *providersv1.LocalityRequest) (*providersv1.LocalityResponse, error) {
	if s.cfg.CrashMarker != "" {
		if err := os.Remove(s.cfg.CrashMarker); err == nil {
			os.Exit(3)
		}
	}
	time.Sleep(time.Duration(s.cfg.SleepMS) * time.Millisecond) // a hung plugin ignores its context
	if s.cfg.Unavailable {
		return nil, status.Error(codes.Unavailable, "testplugin: metadata service throttled the call")
	}
	return &providersv1.LocalityResponse{Locality: s.cfg.Locality, InstanceId: "i-test"}, nil
}

func main() {
	providers.Serve(&server{})
}
