package cli

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strings"
	"time"

	"github.com/spf13/pflag"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/meshfed/meshfed/federation/client"
	meshfedv1 "github.com/meshfed/meshfed/proto/meshfed/v1"
)

// app is what every verb shares: the streams, the connection flags and
// the clock used for ages.
type app struct {
	streams Streams
	conn    connectFlags
	now     func() time.Time
}

// connectFlags are the global flags that say how to reach the control
// plane. Non-empty values override the config file's fields.
type connectFlags struct {
	flags      *pflag.FlagSet
	configPath string
	server     string
	ca         string
	serverID   string
	cert       string
	key        string
	token      string
	timeout    time.Duration
}

func (f *connectFlags) register(fs *pflag.FlagSet) {
	f.flags = fs
	fs.StringVar(&f.configPath, "config", client.DefaultPath(), "client config file; $"+client.EnvConfig+" sets the default")
	fs.StringVar(&f.server, "server", "", "control plane address, host:port (overrides the config file)")
	fs.StringVar(&f.ca, "ca", "", "PEM file of the control plane's CA certificates (overrides the config file)")
	fs.StringVar(&f.serverID, "server-id", "", "SPIFFE ID of the control plane, e.g. spiffe://meshfed.local/meshfed/controlplane")
	fs.StringVar(&f.cert, "cert", "", "client X.509-SVID certificate (PEM); needs --key")
	fs.StringVar(&f.key, "key", "", "private key of --cert (PEM)")
	fs.StringVar(&f.token, "token", "", "admin bearer token, used instead of --cert/--key")
	fs.DurationVar(&f.timeout, "timeout", 10*time.Second, "time limit for the calls of one command")
}

// config merges the config file with the flags. A missing file is fine
// when it was not named explicitly and the flags say enough on their own.
func (f *connectFlags) config() (*client.Config, error) {
	if f.timeout <= 0 {
		return nil, usagef("--timeout %s must be positive", f.timeout)
	}
	cfg := &client.Config{}
	_, statErr := os.Stat(f.configPath)
	missing := errors.Is(statErr, fs.ErrNotExist) && !f.flags.Changed("config")
	if !missing {
		loaded, err := client.Load(f.configPath)
		if err != nil {
			return nil, err
		}
		cfg = loaded
	}
	for _, o := range []struct {
		dst *string
		v   string
	}{
		{&cfg.Server, f.server}, {&cfg.CA, f.ca}, {&cfg.ServerID, f.serverID},
		{&cfg.Cert, f.cert}, {&cfg.Key, f.key}, {&cfg.Token, f.token},
	} {
		if o.v != "" {
			*o.dst = o.v
		}
	}
	if f.token != "" && f.cert == "" {
		// An explicit token beats a certificate from the file.
		cfg.Cert, cfg.Key = "", ""
	}
	if err := cfg.Validate(); err != nil {
		if missing {
			return nil, fmt.Errorf("no config at %s and the flags are not enough without one (%v): start `meshfed controlplane` (it writes a config into its --data-dir) and set %s to it, or pass --server, --ca, --server-id and --cert/--key or --token", f.configPath, err, client.EnvConfig)
		}
		return nil, fmt.Errorf("config %s with flags: %w", f.configPath, err)
	}
	return cfg, nil
}

// session is one connection to the admin API, used by one command.
type session struct {
	admin   meshfedv1.AdminServiceClient
	gateway meshfedv1.GatewayServiceClient
	addr    string
	timeout time.Duration
}

// call dials the control plane and runs fn with a context bounded by
// --timeout. The connection is closed when fn returns.
func (a *app) call(ctx context.Context, fn func(context.Context, *session) error) error {
	cfg, err := a.conn.config()
	if err != nil {
		return err
	}
	conn, err := client.Dial(cfg)
	if err != nil {
		return err
	}
	defer conn.Close()
	ctx, cancel := context.WithTimeout(ctx, a.conn.timeout)
	defer cancel()
	return fn(ctx, &session{admin: conn.Admin, gateway: conn.Gateway, addr: cfg.Server, timeout: a.conn.timeout})
}

// rpcError is a gRPC failure explained for a person; Unwrap gives the
// status error.
type rpcError struct {
	msg string
	err error
}

func (e *rpcError) Error() string { return e.msg }
func (e *rpcError) Unwrap() error { return e.err }

// fail turns a gRPC error into a message that keeps the server's words.
// what names the object the call was about, e.g. `cluster "eu-1"`; it may
// be empty for list calls.
func (s *session) fail(err error, what string) error {
	st, ok := status.FromError(err)
	if !ok {
		return err
	}
	msg := st.Message()
	subject := what
	if subject == "" {
		subject = "the request"
	}
	var out string
	switch st.Code() {
	case codes.NotFound:
		out = fmt.Sprintf("%s not found", subject)
		if what == "" {
			out = "not found"
		}
		out += detail(msg)
	case codes.AlreadyExists:
		out = fmt.Sprintf("%s already exists%s", subject, detail(msg))
	case codes.InvalidArgument, codes.FailedPrecondition, codes.OutOfRange:
		out = fmt.Sprintf("the control plane refused %s: %s", subject, msg)
	case codes.Unauthenticated:
		out = fmt.Sprintf("the control plane at %s did not accept our credentials: %s (check --cert/--key or --token, or the config file)", s.addr, msg)
	case codes.PermissionDenied:
		out = fmt.Sprintf("permission denied: %s (admin verbs need an admin SVID or token)", msg)
	case codes.Unavailable:
		if strings.Contains(msg, "authentication handshake failed") {
			out = fmt.Sprintf("cannot authenticate the control plane at %s: %s (check --ca, --server-id and --cert/--key, or the config file)", s.addr, msg)
			break
		}
		out = fmt.Sprintf("cannot reach the control plane at %s: %s (is `meshfed controlplane` running? check --server / %s)", s.addr, msg, client.EnvConfig)
	case codes.DeadlineExceeded:
		out = fmt.Sprintf("the control plane at %s did not answer within %s: %s (raise --timeout, or check that it is healthy)", s.addr, s.timeout, msg)
	case codes.Canceled:
		out = "interrupted: " + msg
	default:
		out = fmt.Sprintf("%s failed (%s): %s", subject, st.Code(), msg)
	}
	return &rpcError{msg: out, err: err}
}

func detail(msg string) string {
	if msg == "" {
		return ""
	}
	return ": " + msg
}
