// Package gcp is the Google Cloud provider plugin's logic, served by
// cmd/meshfed-provider-gcp.
//
// Locality comes from the GCE metadata server through Google's
// cloud.google.com/go/compute/metadata package (requests carry
// "Metadata-Flavor: Google" and replies must too): instance/zone (in the
// documented form projects/NUMBER/zones/ZONE; the region is the zone
// without its last "-x"), the project ID, the instance ID, and the GKE
// "cluster-name" instance attribute when it exists. GatewayAddresses for
// the local gateway are the instance's external and internal IP of its
// first network interface. DiscoverClusters lists the project's GKE
// clusters in every location with the GKE REST client
// (cloud.google.com/go/container/apiv1, GET
// /v1/projects/PROJECT/locations/-/clusters), authenticated with the
// instance service account's token from the metadata server
// (instance/service-accounts/default/token). Distance uses the shipped
// tiers of package distance.
//
// Configuration (JSON, every field optional):
//
//	{
//	  "metadata_host": "169.254.169.254",                  // host[:port]; sets GCE_METADATA_HOST, the package's own override
//	  "timeout":       "2s",                               // per metadata request, retries included
//	  "gke_endpoint":  "https://container.googleapis.com", // default; http only on loopback
//	  "project":       "",                                 // default the instance's project
//	  "api_timeout":   "5s",                               // one DiscoverClusters call, retries included
//	  "max_attempts":  3                                   // GKE requests answered 429, 503 or 504
//	}
package gcp
