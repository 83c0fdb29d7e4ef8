package azure

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/arm"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/cloud"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/containerservice/armcontainerservice/v6"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	providersv1 "github.com/meshfed/meshfed/proto/providers/v1"
)

const (
	// DefaultARMEndpoint is Azure Resource Manager in the public cloud.
	DefaultARMEndpoint = "https://management.azure.com"
	// DefaultARMAudience is the token audience for DefaultARMEndpoint.
	DefaultARMAudience = "https://management.core.windows.net/"
)

func (c *Config) parseARM() error {
	if c.ARMEndpoint == "" {
		c.ARMEndpoint = DefaultARMEndpoint
	}
	if c.ARMAudience == "" {
		c.ARMAudience = DefaultARMAudience
	}
	u, err := url.Parse(c.ARMEndpoint)
	if err != nil || u.Host == "" || u.RawQuery != "" || u.User != nil || (u.Scheme != "https" && !(u.Scheme == "http" && isLoopback(u.Hostname()))) {
		return fmt.Errorf("azure: config: arm_endpoint %q is not an https URL such as %q (plain http only on loopback)", c.ARMEndpoint, DefaultARMEndpoint)
	}
	c.ARMEndpoint = strings.TrimSuffix(c.ARMEndpoint, "/")
	if u, err := url.Parse(c.ARMAudience); err != nil || u.Scheme == "" || u.Host == "" {
		return fmt.Errorf("azure: config: arm_audience %q is not a URL such as %q", c.ARMAudience, DefaultARMAudience)
	}
	if c.Subscription != "" && !guidRE.MatchString(c.Subscription) {
		return fmt.Errorf("azure: config: subscription %q is not a subscription ID (a GUID)", c.Subscription)
	}
	c.apiTimeout = 5 * time.Second
	if c.APITimeout != "" {
		d, err := time.ParseDuration(c.APITimeout)
		if err != nil || d <= 0 {
			return fmt.Errorf("azure: config: api_timeout %q is not a positive duration such as \"5s\"", c.APITimeout)
		}
		c.apiTimeout = d
	}
	return nil
}

func isLoopback(host string) bool {
	ip := net.ParseIP(host)
	return host == "localhost" || ip != nil && ip.IsLoopback()
}

// DiscoverClusters lists the AKS clusters of the configured (or the VM's)
// subscription through ARM's managedClusters list, every page, with a
// token for the workload identity when one is configured, else for the
// VM's managed identity from IMDS.
func (s *Server) DiscoverClusters(ctx context.Context, _ *providersv1.DiscoverClustersRequest) (*providersv1.DiscoverClustersResponse, error) {
	cfg, _, cred, err := s.state()
	if err != nil {
		return nil, err
	}
	sub := cfg.Subscription
	if sub == "" {
		in, err := s.instance(ctx)
		if err != nil {
			return nil, err
		}
		if sub = in.Compute.SubscriptionID; !guidRE.MatchString(sub) {
			return nil, status.Errorf(codes.DataLoss, "azure: instance metadata: compute.subscriptionId %q is not a subscription ID; set \"subscription\"", sub)
		}
	}
	what := fmt.Sprintf("ARM list managed clusters of subscription %s (%s)", sub, cfg.ARMEndpoint)
	retries := cfg.MaxAttempts - 1
	if retries == 0 {
		retries = -1 // azcore: 0 means its default, -1 none
	}
	client, err := armcontainerservice.NewManagedClustersClient(sub, cred, &arm.ClientOptions{
		DisableRPRegistration: true, // listing must never register a resource provider
		ClientOptions: policy.ClientOptions{
			Cloud: cloud.Configuration{Services: map[cloud.ServiceName]cloud.ServiceConfiguration{
				cloud.ResourceManager: {Endpoint: cfg.ARMEndpoint, Audience: cfg.ARMAudience},
			}},
			Retry:                           policy.RetryOptions{MaxRetries: int32(retries), RetryDelay: 100 * time.Millisecond, MaxRetryDelay: 2 * time.Second},
			InsecureAllowCredentialWithHTTP: strings.HasPrefix(cfg.ARMEndpoint, "http://"), // loopback only, see parseARM
		},
	})
	if err != nil {
		return nil, status.Errorf(codes.Internal, "azure: %s: client: %v", what, err)
	}
	cctx, cancel := context.WithTimeout(ctx, cfg.apiTimeout)
	defer cancel()
	resp := &providersv1.DiscoverClustersResponse{}
	for pages := client.NewListPager(nil); pages.More(); {
		page, err := pages.NextPage(cctx)
		if err != nil {
			return nil, armError(ctx, cctx, cfg, what, err)
		}
		for _, mc := range page.Value {
			dc, err := ClusterFromAKS(mc)
			if err != nil {
				return nil, status.Errorf(codes.DataLoss, "azure: %s: %v", what, err)
			}
			resp.Clusters = append(resp.Clusters, dc)
		}
	}
	return resp, nil
}

// ClusterFromAKS maps an AKS managed cluster to a discovered cluster. Its
// location is the region. The zone is set only when all agent pools are
// pinned to one availability zone ("N" becomes "LOCATION-N"); a cluster
// spread over zones, or not zonal, has no single zone.
func ClusterFromAKS(mc *armcontainerservice.ManagedCluster) (*providersv1.DiscoveredCluster, error) {
	if mc == nil || mc.Name == nil || *mc.Name == "" {
		return nil, errors.New("a managed cluster without a name")
	}
	name := *mc.Name
	loc := strings.ToLower(deref(mc.Location))
	if !locationRE.MatchString(loc) {
		return nil, fmt.Errorf("managed cluster %q: location %q is not an Azure location name", name, deref(mc.Location))
	}
	dc := &providersv1.DiscoveredCluster{
		Name:     name,
		Locality: &providersv1.Locality{Provider: Provider, Region: loc},
		Id:       deref(mc.ID),
	}
	if p := mc.Properties; p != nil {
		var zones []string
		for _, pool := range p.AgentPoolProfiles {
			if pool == nil {
				continue
			}
			for _, z := range pool.AvailabilityZones {
				if z == nil || !zoneRE.MatchString(*z) {
					return nil, fmt.Errorf("managed cluster %q: availability zone %q is not a zone number", name, deref(z))
				}
				if !slices.Contains(zones, *z) {
					zones = append(zones, *z)
				}
			}
		}
		if len(zones) == 1 {
			dc.Locality.Zone = loc + "-" + zones[0]
		}
		if p.Fqdn != nil && *p.Fqdn != "" {
			dc.Endpoint = "https://" + *p.Fqdn
		}
		dc.Status = deref(p.ProvisioningState)
	}
	return dc, nil
}

func deref(p *string) string {
	if p == nil {
		return ""
	}
	return *p
}

// armError turns an ARM client error into a status naming the call.
func armError(ctx, cctx context.Context, cfg Config, what string, err error) error {
	var te *tokenError
	var re *azcore.ResponseError
	var ue *url.Error
	var ne net.Error
	code := 0
	if errors.As(err, &re) {
		code = re.StatusCode
	}
	switch {
	case errors.As(err, &te):
		return status.Errorf(codes.Unavailable, "azure: %s: no %s", what, strings.TrimPrefix(status.Convert(te.err).Message(), "azure: "))
	case ctx.Err() == nil && errors.Is(cctx.Err(), context.DeadlineExceeded):
		return status.Errorf(codes.Unavailable, "azure: %s: no answer within %s", what, cfg.apiTimeout)
	case code == http.StatusForbidden || code == http.StatusUnauthorized:
		return status.Errorf(codes.PermissionDenied, "azure: %s: denied (HTTP %d %s); give %s Microsoft.ContainerService/managedClusters/read on the subscription (the Reader role has it)", what, code, re.ErrorCode, cfg.identity())
	case code == http.StatusNotFound:
		return status.Errorf(codes.NotFound, "azure: %s: not found (HTTP 404 %s)", what, re.ErrorCode)
	case code == http.StatusTooManyRequests || code >= 500:
		return status.Errorf(codes.Unavailable, "azure: %s: throttled or failing (HTTP %d %s) after %d attempts; retry later", what, code, re.ErrorCode, cfg.MaxAttempts)
	case code != 0:
		return status.Errorf(codes.Unavailable, "azure: %s: HTTP %d %s", what, code, re.ErrorCode)
	case errors.As(err, &ue) || errors.As(err, &ne):
		return status.Errorf(codes.Unavailable, "azure: %s: %v", what, err)
	default:
		// A 200 reply the client could not decode.
		return status.Errorf(codes.DataLoss, "azure: %s: reply is not a valid managed cluster list: %v", what, err)
	}
}
