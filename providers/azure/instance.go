package azure

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/netip"
	"regexp"
)

// Instance is the part of the IMDS instance document the plugin uses.
type Instance struct {
	Compute struct {
		Location       string `json:"location"`
		Zone           string `json:"zone"`
		VMID           string `json:"vmId"`
		SubscriptionID string `json:"subscriptionId"`
		Name           string `json:"name"`
	} `json:"compute"`
	Network struct {
		Interface []struct {
			IPv4 struct {
				IPAddress []struct {
					PrivateIPAddress string `json:"privateIpAddress"`
					PublicIPAddress  string `json:"publicIpAddress"`
				} `json:"ipAddress"`
			} `json:"ipv4"`
		} `json:"interface"`
	} `json:"network"`
}

var (
	locationRE = regexp.MustCompile(`^[a-z][a-z0-9]{1,40}$`)
	zoneRE     = regexp.MustCompile(`^[0-9]{1,2}$`)
)

// ParseInstance parses and checks an IMDS instance document: location is
// required and must be an Azure location name; zone is empty or a number.
func ParseInstance(b []byte) (Instance, error) {
	var in Instance
	dec := json.NewDecoder(bytes.NewReader(b))
	if err := dec.Decode(&in); err != nil {
		return Instance{}, fmt.Errorf("instance document is not valid JSON: %w", err)
	}
	if !locationRE.MatchString(in.Compute.Location) {
		return Instance{}, fmt.Errorf("instance document: compute.location %q is not an Azure location name", in.Compute.Location)
	}
	if in.Compute.Zone != "" && !zoneRE.MatchString(in.Compute.Zone) {
		return Instance{}, fmt.Errorf("instance document: compute.zone %q is not a zone number", in.Compute.Zone)
	}
	for _, nic := range in.Network.Interface {
		for _, a := range nic.IPv4.IPAddress {
			for _, ip := range []string{a.PrivateIPAddress, a.PublicIPAddress} {
				if _, err := netip.ParseAddr(ip); ip != "" && err != nil {
					return Instance{}, fmt.Errorf("instance document: IP address %q is not valid", ip)
				}
			}
		}
	}
	return in, nil
}

// Zone is the instance's zone as AKS names it ("westeurope-1"), or "".
func (in Instance) Zone() string {
	if in.Compute.Zone == "" {
		return ""
	}
	return in.Compute.Location + "-" + in.Compute.Zone
}
