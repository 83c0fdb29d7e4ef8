package tfprovider

import (
	"context"
	"errors"
	"fmt"

	"github.com/hashicorp/terraform-plugin-framework-validators/providervalidator"
	"github.com/hashicorp/terraform-plugin-framework-validators/stringvalidator"
	"github.com/hashicorp/terraform-plugin-framework/datasource"
	"github.com/hashicorp/terraform-plugin-framework/path"
	"github.com/hashicorp/terraform-plugin-framework/provider"
	"github.com/hashicorp/terraform-plugin-framework/provider/schema"
	"github.com/hashicorp/terraform-plugin-framework/resource"
	"github.com/hashicorp/terraform-plugin-framework/schema/validator"
	"github.com/hashicorp/terraform-plugin-framework/types"
	"github.com/hashicorp/terraform-plugin-log/tflog"

	"github.com/meshfed/meshfed/federation/client"
	meshfedv1 "github.com/meshfed/meshfed/proto/meshfed/v1"
)

// Address is the provider's source address; configurations require it as
// source = "meshfed/meshfed".
const Address = "registry.terraform.io/meshfed/meshfed"

// New returns a function that makes the provider, as providerserver.Serve
// wants. version is reported to Terraform.
func New(version string) func() provider.Provider {
	return func() provider.Provider { return &meshfedProvider{version: version} }
}

type meshfedProvider struct {
	version string
}

var (
	_ provider.Provider                     = (*meshfedProvider)(nil)
	_ provider.ProviderWithConfigValidators = (*meshfedProvider)(nil)
)

type providerModel struct {
	ConfigPath types.String `tfsdk:"config_path"`
	Server     types.String `tfsdk:"server"`
	CAFile     types.String `tfsdk:"ca_file"`
	ServerID   types.String `tfsdk:"server_id"`
	Token      types.String `tfsdk:"token"`
	CertFile   types.String `tfsdk:"cert_file"`
	KeyFile    types.String `tfsdk:"key_file"`
	Timeout    types.String `tfsdk:"timeout"`
}

func (p *meshfedProvider) Metadata(_ context.Context, _ provider.MetadataRequest, resp *provider.MetadataResponse) {
	resp.TypeName = "meshfed"
	resp.Version = p.version
}

func (p *meshfedProvider) Schema(_ context.Context, _ provider.SchemaRequest, resp *provider.SchemaResponse) {
	nonEmpty := []validator.String{stringvalidator.LengthAtLeast(1)}
	resp.Schema = schema.Schema{
		Description: "Manages what a meshfed control plane holds: clusters, trust domains and per-service policies. " +
			"The provider talks to the control plane's admin gRPC API over mutual TLS (or TLS and a bearer token), " +
			"configured like the meshfed CLI: from a meshfed.yaml, with the attributes below overriding its fields.",
		Attributes: map[string]schema.Attribute{
			"config_path": schema.StringAttribute{
				Optional: true,
				Description: "Path of a meshfed CLI config file (meshfed.yaml), as written by `meshfed controlplane` into its --data-dir. " +
					"Defaults to $MESHFED_CONFIG, then meshfed/meshfed.yaml under the user config directory. " +
					"A file named here or by $MESHFED_CONFIG must exist; the default one may be missing when the other attributes say enough.",
				Validators: nonEmpty,
			},
			"server": schema.StringAttribute{
				Optional:    true,
				Description: "Address of the control plane's gRPC API, host:port. Overrides the config file's server.",
				Validators:  []validator.String{hostPort()},
			},
			"ca_file": schema.StringAttribute{
				Optional:    true,
				Description: "PEM file of the control plane's CA certificates, used to authenticate it. Overrides the config file's ca.",
				Validators:  nonEmpty,
			},
			"server_id": schema.StringAttribute{
				Optional: true,
				Description: "SPIFFE ID the control plane must present, for example spiffe://meshfed.local/meshfed/controlplane. " +
					"The control plane is authenticated by this ID, not by host name. Overrides the config file's server_id.",
				Validators: []validator.String{spiffeID()},
			},
			"token": schema.StringAttribute{
				Optional:  true,
				Sensitive: true,
				Description: "Admin bearer token. Overrides the config file's credentials (a token given here wins over a certificate from the file). " +
					"Conflicts with cert_file.",
				Validators: nonEmpty,
			},
			"cert_file": schema.StringAttribute{
				Optional:    true,
				Description: "PEM file of an admin X.509-SVID; needs key_file. Overrides the config file's cert. Conflicts with token.",
				Validators:  nonEmpty,
			},
			"key_file": schema.StringAttribute{
				Optional:    true,
				Description: "PEM file of the private key of cert_file. Overrides the config file's key.",
				Validators:  nonEmpty,
			},
			"timeout": schema.StringAttribute{
				Optional:    true,
				Description: fmt.Sprintf("Time limit for each call to the control plane, as a duration such as \"30s\" or \"2m\". Defaults to %q.", DefaultTimeout.String()),
				Validators:  []validator.String{duration()},
			},
		},
	}
}

func (p *meshfedProvider) ConfigValidators(context.Context) []provider.ConfigValidator {
	return []provider.ConfigValidator{
		providervalidator.RequiredTogether(path.MatchRoot("cert_file"), path.MatchRoot("key_file")),
		providervalidator.Conflicting(path.MatchRoot("token"), path.MatchRoot("cert_file")),
	}
}

// Configure reads the connection settings and prepares a client. It does
// not contact the control plane: the first call of a resource does.
func (p *meshfedProvider) Configure(ctx context.Context, req provider.ConfigureRequest, resp *provider.ConfigureResponse) {
	var m providerModel
	resp.Diagnostics.Append(req.Config.Get(ctx, &m)...)
	if resp.Diagnostics.HasError() {
		return
	}
	for name, v := range map[string]types.String{
		"config_path": m.ConfigPath, "server": m.Server, "ca_file": m.CAFile, "server_id": m.ServerID,
		"token": m.Token, "cert_file": m.CertFile, "key_file": m.KeyFile, "timeout": m.Timeout,
	} {
		if v.IsUnknown() {
			resp.Diagnostics.AddAttributeError(path.Root(name), "Unknown provider setting",
				fmt.Sprintf("The provider needs %s to reach the control plane before anything is planned, but its value is only known after apply. "+
					"Set it from a variable or a value known at plan time, or apply the resources it comes from first (-target).", name))
		}
	}
	if resp.Diagnostics.HasError() {
		return
	}
	cfg, timeout, err := resolve(settings{
		ConfigPath: m.ConfigPath.ValueString(), Server: m.Server.ValueString(), CAFile: m.CAFile.ValueString(),
		ServerID: m.ServerID.ValueString(), Token: m.Token.ValueString(), CertFile: m.CertFile.ValueString(),
		KeyFile: m.KeyFile.ValueString(), Timeout: m.Timeout.ValueString(),
	})
	var se *settingsError
	if errors.As(err, &se) {
		resp.Diagnostics.AddAttributeError(se.Path, se.Summary, se.Detail)
		return
	}
	// Dial loads the CA and the client certificate without connecting;
	// doing it now reports bad files while configuring.
	conn, err := client.Dial(cfg)
	if err != nil {
		resp.Diagnostics.AddError("Cannot prepare a connection to the meshfed control plane",
			fmt.Sprintf("%v. Check ca_file, cert_file and key_file (or the config file's ca, cert and key).", err))
		return
	}
	_ = conn.Close()
	tflog.Debug(ctx, "meshfed control plane client ready", map[string]any{"server": cfg.Server, "server_id": cfg.ServerID, "token_auth": cfg.Cert == ""})
	api := &apiClient{admin: meshfedv1.NewAdminServiceClient(&lazyConn{cfg: cfg}), server: cfg.Server, timeout: timeout}
	resp.ResourceData = api
	resp.DataSourceData = api
}

func (p *meshfedProvider) Resources(context.Context) []func() resource.Resource {
	return []func() resource.Resource{
		newClusterResource,
		newTrustDomainResource,
		newFailoverPolicyResource,
		newAuthorizationPolicyResource,
	}
}

func (p *meshfedProvider) DataSources(context.Context) []func() datasource.DataSource {
	return []func() datasource.DataSource{
		newClusterDataSource,
		newImportsDataSource,
	}
}
