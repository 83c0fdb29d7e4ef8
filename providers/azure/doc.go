// Package azure is the Azure provider plugin's logic, served by
// cmd/meshfed-provider-azure.
//
// Locality comes from the Azure Instance Metadata Service, called directly
// as documented (there is no SDK client for it): GET
// /metadata/instance?api-version=2021-02-01 with the header "Metadata: true",
// never through a proxy. The region is compute.location; a zonal VM's zone
// "N" becomes "LOCATION-N", the form AKS uses for
// topology.kubernetes.io/zone. Throttling (429) and server errors are
// retried with exponential back-off, as the IMDS documentation asks.
// GatewayAddresses for the local gateway are the first interface's public
// and private IPv4 addresses; DiscoverClusters is not implemented (it needs
// the ARM container service client and credentials): it answers
// UNIMPLEMENTED. Distance uses the shipped tiers of package distance.
//
// Configuration (JSON, every field optional):
//
//	{
//	  "imds_endpoint": "http://169.254.169.254", // default
//	  "timeout":       "2s", // per request
//	  "max_attempts":  3
//	}
package azure
