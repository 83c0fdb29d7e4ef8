package tfprovider

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/terraform-plugin-framework/diag"
	"github.com/hashicorp/terraform-plugin-framework/path"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/meshfed/meshfed/federation/client"
	meshfedv1 "github.com/meshfed/meshfed/proto/meshfed/v1"
)

// apiClient is what the provider hands to resources and data sources: the
// admin API and how to bound and explain its calls. It is safe for
// concurrent use (Terraform calls resources in parallel).
type apiClient struct {
	admin   meshfedv1.AdminServiceClient
	server  string
	timeout time.Duration
}

// lazyConn dials the control plane on the first call, so a provider that
// is configured but never used (a plan with nothing of meshfed's to
// refresh) starts no connection. The connection then lives as long as the
// provider process, which Terraform stops when it is done with it.
type lazyConn struct {
	cfg  *client.Config
	once sync.Once
	conn *client.Conn
	err  error
}

var _ grpc.ClientConnInterface = (*lazyConn)(nil)

func (l *lazyConn) dial() (*client.Conn, error) {
	l.once.Do(func() { l.conn, l.err = client.Dial(l.cfg) })
	return l.conn, l.err
}

func (l *lazyConn) Invoke(ctx context.Context, method string, args, reply any, opts ...grpc.CallOption) error {
	c, err := l.dial()
	if err != nil {
		return status.Error(codes.FailedPrecondition, err.Error())
	}
	return c.Invoke(ctx, method, args, reply, opts...)
}

func (l *lazyConn) NewStream(ctx context.Context, desc *grpc.StreamDesc, method string, opts ...grpc.CallOption) (grpc.ClientStream, error) {
	c, err := l.dial()
	if err != nil {
		return nil, status.Error(codes.FailedPrecondition, err.Error())
	}
	return c.NewStream(ctx, desc, method, opts...)
}

// bound returns ctx limited by the provider's timeout.
func (c *apiClient) bound(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, c.timeout)
}

// clientFrom takes the apiClient out of ProviderData. It returns nil
// without a diagnostic while the provider is not configured yet
// (Terraform validates resources before it configures the provider).
func clientFrom(providerData any, diags *diag.Diagnostics) *apiClient {
	if providerData == nil {
		return nil
	}
	c, ok := providerData.(*apiClient)
	if !ok {
		diags.AddError("Unexpected provider data",
			fmt.Sprintf("Expected *tfprovider.apiClient, got %T. This is a bug in the meshfed provider; please report it.", providerData))
		return nil
	}
	return c
}

func notConfigured(diags *diag.Diagnostics) {
	diags.AddError("Provider not configured",
		"The meshfed provider was not configured before it was used. This is a bug in the meshfed provider or Terraform; please report it.")
}

func isNotFound(err error) bool { return status.Code(err) == codes.NotFound }

func isAlreadyExists(err error) bool { return status.Code(err) == codes.AlreadyExists }

// fieldPaths maps a field name as the control plane writes it in its
// validation messages (federation/schema: `<field> "<value>" <reason>`)
// to the attribute that holds it, so a refusal the plan could not foresee
// (a cluster claiming the control plane's own trust domain, say) still
// points at the right line.
type fieldPaths map[string]path.Path

// match finds the field a validation message is about: the first field
// name followed by a quoted value at the start of msg or right after an
// object prefix (`cluster "eu-1": trust_domain "x y" is not ...`).
func (f fieldPaths) match(msg string) (path.Path, bool) {
	best, bestAt := path.Empty(), -1
	for field, p := range f {
		for from := 0; ; {
			i := strings.Index(msg[from:], field+` "`)
			if i < 0 {
				break
			}
			i += from
			if (i == 0 || strings.HasSuffix(msg[:i], ": ")) && (bestAt < 0 || i < bestAt) {
				best, bestAt = p, i
				break
			}
			from = i + 1
		}
	}
	return best, bestAt >= 0
}

// addCallError explains a failed call for a person, keeping the control
// plane's own words. action is what Terraform was doing ("create",
// "read", ...) and what names the object, e.g. `cluster "eu-1"`.
func (c *apiClient) addCallError(diags *diag.Diagnostics, err error, action, what string, fields fieldPaths) {
	summary := fmt.Sprintf("Cannot %s %s", action, what)
	st, ok := status.FromError(err)
	if !ok {
		diags.AddError(summary, err.Error())
		return
	}
	msg := st.Message()
	var detail string
	switch st.Code() {
	case codes.NotFound:
		detail = fmt.Sprintf("The control plane has no %s: %s", what, msg)
	case codes.AlreadyExists:
		detail = fmt.Sprintf("The control plane already holds %s: %s. To manage it with Terraform, import it (terraform import) instead of creating it.", what, msg)
	case codes.InvalidArgument, codes.FailedPrecondition, codes.OutOfRange:
		detail = fmt.Sprintf("The control plane refused %s: %s", what, msg)
		if p, ok := fields.match(msg); ok {
			diags.AddAttributeError(p, summary, detail)
			return
		}
	case codes.Unauthenticated:
		detail = fmt.Sprintf("The control plane at %s did not accept the provider's credentials: %s. Check token, or cert_file and key_file (or the config file's).", c.server, msg)
	case codes.PermissionDenied:
		detail = fmt.Sprintf("Permission denied: %s. The provider needs an admin identity (the admin token or admin SVID).", msg)
	case codes.Unavailable:
		if strings.Contains(msg, "authentication handshake failed") {
			detail = fmt.Sprintf("Cannot authenticate the control plane at %s: %s. Check ca_file and server_id (or the config file's ca and server_id).", c.server, msg)
			break
		}
		detail = fmt.Sprintf("Cannot reach the control plane at %s: %s. Is `meshfed controlplane` running there? Check the provider's server attribute, or the server field of its config file (config_path or $%s).", c.server, msg, client.EnvConfig)
	case codes.DeadlineExceeded:
		detail = fmt.Sprintf("The control plane at %s did not answer within %s: %s. Raise the provider's timeout, or check that the control plane is healthy.", c.server, c.timeout, msg)
	case codes.Canceled:
		detail = "Interrupted: " + msg
	case codes.Aborted:
		detail = fmt.Sprintf("%s was changed concurrently and the write gave up: %s. Run the same command again.", what, msg)
	default:
		detail = fmt.Sprintf("%s failed (%s): %s", what, st.Code(), msg)
	}
	diags.AddError(summary, detail)
}
