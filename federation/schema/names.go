package schema

import (
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"strings"

	"github.com/spiffe/go-spiffe/v2/spiffeid"
)

// Limits on sizes. They bound what one object may cost the control plane
// and every gateway that receives it.
const (
	MaxLabelLen        = 63
	MaxLabels          = 64
	MaxLabelValueLen   = 63
	MaxGatewayAddrs    = 16
	MaxPorts           = 100
	MaxZones           = 64
	MaxReadyPerZone    = 1_000_000
	MaxTrustDomainLen  = 255
	MaxLocalityPartLen = 63
	MaxAddressLen      = 261 // 255-byte host, ':' and a 5-digit port
)

const dnsLabelRule = "is not a valid DNS-1123 label (1-63 lowercase letters, digits or '-', starting and ending with a letter or digit)"

// IsDNSLabel reports whether s is a DNS-1123 label, the rule Kubernetes
// applies to namespaces and service names.
func IsDNSLabel(s string) bool {
	if len(s) == 0 || len(s) > MaxLabelLen {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'a' && c <= 'z', c >= '0' && c <= '9':
		case c == '-' && i > 0 && i < len(s)-1:
		default:
			return false
		}
	}
	return true
}

// ValidateName checks that value, found in field of object, is a DNS-1123 label.
func ValidateName(object, field, value string) error {
	if !IsDNSLabel(value) {
		return fieldErr(object, field, value, dnsLabelRule)
	}
	return nil
}

// ValidateTrustDomain checks a SPIFFE trust domain name.
func ValidateTrustDomain(object, field, value string) error {
	if len(value) > MaxTrustDomainLen {
		return fieldErr(object, field, value, fmt.Sprintf("is longer than %d characters", MaxTrustDomainLen))
	}
	td, err := spiffeid.TrustDomainFromString(value)
	if err != nil || td.Name() != value {
		return fieldErr(object, field, value, "is not a valid SPIFFE trust domain name (lowercase letters, digits, '.', '-', '_'; no scheme or path)")
	}
	return nil
}

// isLocalityPart allows what clouds use in region and zone names.
func isLocalityPart(s string) bool {
	if len(s) == 0 || len(s) > MaxLocalityPartLen {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.') {
			return false
		}
	}
	return true
}

// ValidateZone checks a zone name (lowercase letters, digits, '-', '_', '.').
func ValidateZone(object, field, value string) error {
	if !isLocalityPart(value) {
		return fieldErr(object, field, value, "is not a valid zone name (1-63 lowercase letters, digits, '-', '_' or '.')")
	}
	return nil
}

// ValidateAddress checks a host:port gateway address.
func ValidateAddress(object, field, value string) error {
	if len(value) > MaxAddressLen {
		return fieldErr(object, field, value, "is too long for a host:port address")
	}
	host, port, err := net.SplitHostPort(value)
	if err != nil || host == "" {
		return fieldErr(object, field, value, "is not a host:port address (for example 10.0.0.1:15443 or gw.example.com:15443)")
	}
	if _, err := netip.ParseAddr(host); err != nil && !isHostName(host) {
		return fieldErr(object, field, value, "has a host that is neither an IP address nor a DNS name (letters, digits, '-', '_' in dot-separated labels)")
	}
	if !allDigits(port) {
		return fieldErr(object, field, value, "has a port that is not a number in 1-65535")
	}
	if p, err := strconv.Atoi(port); err != nil || p < 1 || p > 65535 {
		return fieldErr(object, field, value, "has a port outside 1-65535")
	}
	return nil
}

// ValidateLabel checks one label key and value, with the Kubernetes rules:
// an optional DNS prefix and '/', a name of letters, digits, '-', '_', '.'.
func ValidateLabel(object, key, value string) error {
	name := key
	if i := strings.LastIndexByte(key, '/'); i >= 0 {
		prefix := key[:i]
		name = key[i+1:]
		if len(prefix) == 0 || len(prefix) > 253 || !validDNSSubdomain(prefix) {
			return fieldErr(object, "label key", key, "has an invalid prefix (a DNS subdomain before '/')")
		}
	}
	if !isLabelName(name, MaxLabelLen, false) {
		return fieldErr(object, "label key", key, "is not a valid label key (1-63 letters, digits, '-', '_', '.', starting and ending with a letter or digit)")
	}
	if !isLabelName(value, MaxLabelValueLen, true) {
		return fieldErr(object, "label "+key, value, "is not a valid label value (0-63 letters, digits, '-', '_', '.', starting and ending with a letter or digit)")
	}
	return nil
}

func validDNSSubdomain(s string) bool {
	if len(s) > 253 {
		return false
	}
	for _, part := range strings.Split(s, ".") {
		if !IsDNSLabel(part) {
			return false
		}
	}
	return true
}

func isLabelName(s string, max int, emptyOK bool) bool {
	if len(s) == 0 {
		return emptyOK
	}
	if len(s) > max {
		return false
	}
	alnum := func(c byte) bool { return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' }
	for i := 0; i < len(s); i++ {
		c := s[i]
		if alnum(c) {
			continue
		}
		if (c == '-' || c == '_' || c == '.') && i > 0 && i < len(s)-1 {
			continue
		}
		return false
	}
	return true
}

func allDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return s != ""
}

// isHostName reports whether s is a DNS host name: dot-separated labels of
// letters, digits, '-' and '_', each 1-63 bytes and not starting or ending
// with '-', 253 bytes in all.
func isHostName(s string) bool {
	if len(s) > 253 {
		return false
	}
	for _, label := range strings.Split(strings.TrimSuffix(s, "."), ".") {
		if len(label) == 0 || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return false
		}
		for i := 0; i < len(label); i++ {
			c := label[i]
			if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
				return false
			}
		}
	}
	return true
}

// PresenceName is the name a gateway replica registers under within its
// cluster: the gateway's name, or "gateway.instance" for a replica with
// an instance name (a dot cannot occur in either DNS label, so the two
// never collide).
func PresenceName(gateway, instance string) string {
	if instance == "" {
		return gateway
	}
	return gateway + "." + instance
}
