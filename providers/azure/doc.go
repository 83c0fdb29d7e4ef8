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
// and private IPv4 addresses. DiscoverClusters lists the subscription's
// AKS clusters, every page, with the ARM client
// (armcontainerservice/v6 ManagedClustersClient.NewListPager) and a
// token for the VM's managed identity from IMDS
// (/metadata/identity/oauth2/token, API version 2018-02-01). Distance
// uses the shipped tiers of package distance.
//
// Configuration (JSON, every field optional):
//
//	{
//	  "imds_endpoint": "http://169.254.169.254",               // default
//	  "timeout":       "2s",                                   // per IMDS request
//	  "max_attempts":  3,                                      // IMDS and ARM requests
//	  "arm_endpoint":  "https://management.azure.com",         // default; http only on loopback
//	  "arm_audience":  "https://management.core.windows.net/", // default
//	  "subscription":  "",                                     // default the VM's subscription
//	  "api_timeout":   "5s"                                    // one DiscoverClusters call, all pages and retries
//	}
package azure
