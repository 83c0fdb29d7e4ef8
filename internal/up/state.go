package up

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"
)

// StateFile is the name of the file `meshfed up` writes into its --dir.
const StateFile = "up.json"

// State is DIR/up.json: what a `meshfed up` federation runs and where.
// The field names are a contract: users' scripts and `meshfed drill`
// read them.
type State struct {
	// Controlplane is the control plane's gRPC address.
	Controlplane string `json:"controlplane"`
	// ControlplaneHTTP serves /metrics, /healthz, /readyz.
	ControlplaneHTTP string `json:"controlplane_http"`
	// Config is the CLI config (MESHFED_CONFIG) for this federation.
	Config   string    `json:"config"`
	Dir      string    `json:"dir"`
	Clusters []Cluster `json:"clusters"`
	// PIDs of the processes meshfed up started and that are not a
	// cluster's gateway: "controlplane", "demo".
	PIDs      map[string]int `json:"pids,omitempty"`
	StartedAt time.Time      `json:"started_at"`
	// Detached is true when `meshfed up --detach` left the processes
	// running; `meshfed down` stops them.
	Detached bool `json:"detached"`
	// Logs are the output files of the processes in PIDs, by the same
	// keys.
	Logs map[string]string `json:"logs,omitempty"`
	// BasePort is the first port of the layout (--base-port).
	BasePort int `json:"base_port,omitempty"`
	// StoppedAt is when `meshfed down` (or Ctrl-C) stopped the
	// federation; zero while it runs. PIDs are cleared then.
	StoppedAt time.Time `json:"stopped_at,omitzero"`
}

// Cluster is one cluster of a `meshfed up` federation.
type Cluster struct {
	Name        string `json:"name"`
	TrustDomain string `json:"trust_domain"`
	Provider    string `json:"provider"`
	Region      string `json:"region"`
	Zone        string `json:"zone"`
	// Inbound, Outbound and Admin are the gateway's listen addresses.
	Inbound  string `json:"inbound"`
	Outbound string `json:"outbound"`
	Admin    string `json:"admin"`
	// ForwardProxy is the outbound address as a proxy URL
	// (http://127.0.0.1:PORT), for HTTP_PROXY / http_proxy.
	ForwardProxy string `json:"forward_proxy"`
	// GatewayPID is the gateway process; GatewayArgs its command line, so
	// a drill that killed it can start it again; GatewayLog its output.
	GatewayPID  int      `json:"gateway_pid,omitempty"`
	GatewayArgs []string `json:"gateway_args,omitempty"`
	GatewayLog  string   `json:"gateway_log,omitempty"`
	// Services are the demo services this cluster exports, by
	// NAME.NAMESPACE, with their backends' addresses by protocol
	// ("http", "grpc").
	Services map[string]map[string]string `json:"services,omitempty"`
	// TCPListeners are the gateway's per-service ports, by
	// "NAME.NAMESPACE:PORT".
	TCPListeners map[string]string `json:"tcp_listeners,omitempty"`
}

// Load reads DIR/up.json (or the file at path if it names a file).
func Load(path string) (*State, error) {
	if fi, err := os.Stat(path); err == nil && fi.IsDir() {
		path = filepath.Join(path, StateFile)
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("up: %w (is `meshfed up` running with this --dir?)", err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, 4<<20))
	if err != nil {
		return nil, fmt.Errorf("up: %s: %w", path, err)
	}
	var s State
	if err := json.Unmarshal(data, &s); err != nil {
		return nil, fmt.Errorf("up: %s: %w", path, err)
	}
	return &s, nil
}

// Save writes s to DIR/up.json atomically.
func (s *State) Save(dir string) error {
	data, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return err
	}
	tmp, err := os.CreateTemp(dir, ".up-*.json")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(append(data, '\n')); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), filepath.Join(dir, StateFile))
}

// Cluster returns the named cluster, or nil.
func (s *State) Cluster(name string) *Cluster {
	for i := range s.Clusters {
		if s.Clusters[i].Name == name {
			return &s.Clusters[i]
		}
	}
	return nil
}
