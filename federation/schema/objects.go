package schema

import (
	"fmt"
	"strconv"

	meshfedv1 "github.com/meshfed/meshfed/proto/meshfed/v1"
)

// ValidateCluster checks a cluster record as given by an admin.
func ValidateCluster(c *meshfedv1.Cluster) error {
	if c == nil {
		return fieldErr("", "cluster", "", "is missing")
	}
	obj := fmt.Sprintf("cluster %q", c.GetName())
	if err := ValidateName("", "cluster name", c.GetName()); err != nil {
		return err
	}
	if err := ValidateTrustDomain(obj, "trust_domain", c.GetTrustDomain()); err != nil {
		return err
	}
	if err := ValidateLocality(obj, c.GetLocality()); err != nil {
		return err
	}
	if n := len(c.GetGatewayAddresses()); n > MaxGatewayAddrs {
		return fieldErr(obj, "gateway_addresses", strconv.Itoa(n), fmt.Sprintf("entries is more than the %d allowed", MaxGatewayAddrs))
	}
	for _, a := range c.GetGatewayAddresses() {
		if err := ValidateAddress(obj, "gateway_addresses", a); err != nil {
			return err
		}
	}
	if n := len(c.GetLabels()); n > MaxLabels {
		return fieldErr(obj, "labels", strconv.Itoa(n), fmt.Sprintf("labels is more than the %d allowed", MaxLabels))
	}
	for k, v := range c.GetLabels() {
		if err := ValidateLabel(obj, k, v); err != nil {
			return err
		}
	}
	return nil
}

// ValidateLocality checks provider, region and zone. Provider and region
// are required; zone may be empty for host groups that have none.
func ValidateLocality(obj string, l *meshfedv1.Locality) error {
	if l == nil {
		return fieldErr(obj, "locality", "", "is missing (set provider, region and zone)")
	}
	if !isLocalityPart(l.GetProvider()) {
		return fieldErr(obj, "provider", l.GetProvider(), "is not a valid provider name (1-63 lowercase letters, digits, '-', '_' or '.'; for example aws, gcp, azure, onprem)")
	}
	if !isLocalityPart(l.GetRegion()) {
		return fieldErr(obj, "region", l.GetRegion(), "is not a valid region name (1-63 lowercase letters, digits, '-', '_' or '.'; for example eu-west-1)")
	}
	if l.GetZone() != "" {
		return ValidateZone(obj, "zone", l.GetZone())
	}
	return nil
}

// ValidateExport checks an export as published by a gateway or agent. The
// cluster field must already be set to the publishing cluster.
func ValidateExport(e *meshfedv1.Export) error {
	if e == nil {
		return fieldErr("", "export", "", "is missing")
	}
	if err := ValidateName("export", "cluster", e.GetCluster()); err != nil {
		return err
	}
	if err := ValidateName("export", "namespace", e.GetNamespace()); err != nil {
		return err
	}
	obj := fmt.Sprintf("export %s/%s", e.GetNamespace(), e.GetName())
	if err := ValidateName("export "+e.GetNamespace(), "name", e.GetName()); err != nil {
		return err
	}
	if t := e.GetType(); t != "" && t != "ClusterSetIP" && t != "Headless" {
		return fieldErr(obj, "type", t, `is not "ClusterSetIP" or "Headless"`)
	}
	if len(e.GetPorts()) == 0 {
		return fieldErr(obj, "ports", "", "is empty (an export needs at least one port)")
	}
	if n := len(e.GetPorts()); n > MaxPorts {
		return fieldErr(obj, "ports", strconv.Itoa(n), fmt.Sprintf("entries is more than the %d allowed", MaxPorts))
	}
	names := map[string]bool{}
	nums := map[string]bool{}
	for _, p := range e.GetPorts() {
		if err := ValidatePort(obj, p, len(e.GetPorts()) > 1); err != nil {
			return err
		}
		if p.GetName() != "" {
			if names[p.GetName()] {
				return fieldErr(obj, "port name", p.GetName(), "is used twice")
			}
			names[p.GetName()] = true
		}
		key := strconv.Itoa(int(p.GetPort())) + "/" + Protocol(p)
		if nums[key] {
			return fieldErr(obj, "port", key, "is used twice")
		}
		nums[key] = true
	}
	if n := len(e.GetEndpoints()); n > MaxZones {
		return fieldErr(obj, "endpoints", strconv.Itoa(n), fmt.Sprintf("zones is more than the %d allowed", MaxZones))
	}
	zones := map[string]bool{}
	for _, z := range e.GetEndpoints() {
		zone := z.GetZone()
		if zone != "" {
			if err := ValidateZone(obj, "endpoints zone", zone); err != nil {
				return err
			}
		}
		if zones[zone] {
			return fieldErr(obj, "endpoints zone", zone, "is listed twice")
		}
		zones[zone] = true
		if z.GetReady() > MaxReadyPerZone {
			return fieldErr(obj, "endpoints ready", strconv.FormatUint(uint64(z.GetReady()), 10), fmt.Sprintf("is more than %d", MaxReadyPerZone))
		}
	}
	return nil
}

// Protocol returns the port's protocol with the Kubernetes default (TCP).
func Protocol(p *meshfedv1.ServicePort) string {
	if p.GetProtocol() == "" {
		return "TCP"
	}
	return p.GetProtocol()
}

// ValidatePort checks one service port. Names are required when a service
// has several ports, as in Kubernetes.
func ValidatePort(obj string, p *meshfedv1.ServicePort, needName bool) error {
	if p.GetPort() < 1 || p.GetPort() > 65535 {
		return fieldErr(obj, "port", strconv.FormatUint(uint64(p.GetPort()), 10), "is outside 1-65535")
	}
	switch p.GetProtocol() {
	case "", "TCP", "UDP", "SCTP":
	default:
		return fieldErr(obj, "protocol", p.GetProtocol(), "is not one of TCP, UDP, SCTP")
	}
	if p.GetName() == "" && needName {
		return fieldErr(obj, "port name", strconv.Itoa(int(p.GetPort())), "is missing (every port needs a name when a service has several)")
	}
	if p.GetName() != "" && !IsDNSLabel(p.GetName()) {
		return fieldErr(obj, "port name", p.GetName(), dnsLabelRule)
	}
	if ap := p.GetAppProtocol(); ap != "" && !isLabelName(ap, MaxLabelLen, false) && !validQualified(ap) {
		return fieldErr(obj, "app_protocol", ap, "is not a valid application protocol (for example http, h2c, grpc, or a prefixed name such as kubernetes.io/ws)")
	}
	return nil
}

func validQualified(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] == '/' {
			return validDNSSubdomain(s[:i]) && isLabelName(s[i+1:], MaxLabelLen, false)
		}
	}
	return false
}
