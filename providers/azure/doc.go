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
// (armcontainerservice/v6 ManagedClustersClient.NewListPager). Distance
// uses the shipped tiers of package distance.
//
// The ARM token comes from one of two identities, chosen when the plugin
// is configured:
//
//   - Azure Workload Identity, when AZURE_CLIENT_ID, AZURE_TENANT_ID and
//     AZURE_FEDERATED_TOKEN_FILE are set (the webhook sets them, with
//     AZURE_AUTHORITY_HOST, in pods labelled azure.workload.identity/use:
//     "true"; go-plugin passes meshfed's environment on to the plugin):
//     the projected service account token is exchanged at Microsoft Entra
//     ID for an ARM token by azidentity's ClientAssertionCredential,
//     reading the file afresh (at most MaxTokenFileSize) for every
//     exchange because the kubelet rotates it. Some but not all three set
//     is a configuration error, never a quiet fall back to IMDS.
//   - Otherwise the VM's system-assigned managed identity, from IMDS
//     (/metadata/identity/oauth2/token, API version 2018-02-01).
//
// Configuration (JSON, every field optional):
//
//	{
//	  "imds_endpoint":        "http://169.254.169.254",               // default
//	  "timeout":              "2s",                                   // per IMDS request
//	  "max_attempts":         3,                                      // IMDS, ARM and Entra ID requests
//	  "arm_endpoint":         "https://management.azure.com",         // default; http only on loopback
//	  "arm_audience":         "https://management.core.windows.net/", // default
//	  "subscription":         "",                                     // default the VM's subscription
//	  "api_timeout":          "5s",                                   // one DiscoverClusters call, all pages and retries
//	  "client_id":            "",                                     // workload identity; default $AZURE_CLIENT_ID
//	  "tenant_id":            "",                                     // default $AZURE_TENANT_ID
//	  "federated_token_file": "",                                     // default $AZURE_FEDERATED_TOKEN_FILE
//	  "authority_host":       ""                                      // default $AZURE_AUTHORITY_HOST, else https://login.microsoftonline.com/
//	}
package azure
