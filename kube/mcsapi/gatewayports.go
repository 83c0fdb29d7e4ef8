package mcsapi

import (
	"fmt"
	"sort"
	"strconv"
	"strings"
)

// GatewayPorts maps a service port's key (its name, or "PORT/PROTOCOL"
// when unnamed) to the gateway port clients of the derived Service reach.
type GatewayPorts map[string]int

// PortKey names a service port in the gateway-ports annotation: its name,
// or "PORT/PROTOCOL" when unnamed (protocol empty means TCP).
func PortKey(name string, port int64, protocol string) string {
	if name != "" {
		return name
	}
	if protocol == "" {
		protocol = "TCP"
	}
	return strconv.FormatInt(port, 10) + "/" + protocol
}

// ParseGatewayPorts reads the annotation value "KEY=PORT,KEY=PORT".
func ParseGatewayPorts(s string) (GatewayPorts, error) {
	out := GatewayPorts{}
	if s == "" {
		return out, nil
	}
	for _, item := range strings.Split(s, ",") {
		k, v, ok := strings.Cut(item, "=")
		p, err := strconv.Atoi(v)
		if !ok || k == "" || err != nil || p < 1 || p > 65535 {
			return nil, fmt.Errorf("%q is not KEY=PORT", item)
		}
		out[k] = p
	}
	return out, nil
}

func (g GatewayPorts) String() string {
	keys := make([]string, 0, len(g))
	for k := range g {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = k + "=" + strconv.Itoa(g[k])
	}
	return strings.Join(parts, ",")
}
