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
// first network interface. DiscoverClusters is not implemented (it needs
// the GKE API client, which is not a dependency yet): it answers
// UNIMPLEMENTED. Distance uses the shipped tiers of package distance.
//
// Configuration (JSON, every field optional):
//
//	{
//	  "metadata_host": "169.254.169.254", // host[:port]; sets GCE_METADATA_HOST, the package's own override
//	  "timeout":       "2s"               // per metadata request, retries included
//	}
package gcp
