// Package aws is the AWS provider plugin's logic, served by
// cmd/meshfed-provider-aws.
//
// Locality comes from the EC2 instance identity document, read through the
// AWS SDK's IMDS client with IMDSv2 only (a session token from PUT
// /latest/api/token, then GETs carrying it; no IMDSv1 fallback). A token
// the metadata service refuses (HTTP 401, e.g. expired) is dropped and a
// new one fetched once. GatewayAddresses for the local gateway are the
// instance's public and private IPv4 addresses from instance metadata;
// addresses of other clusters' load balancers are not implemented.
// DiscoverClusters lists EKS clusters (ListClusters, DescribeCluster) with
// credentials from the SDK's default chain. Distance uses the shipped tiers
// of package distance.
//
// Configuration (JSON, every field optional):
//
//	{
//	  "imds_endpoint": "http://169.254.169.254", // default: the SDK's
//	  "eks_endpoint":  "https://eks.eu-west-1.amazonaws.com", // default: the SDK's
//	  "region":        "eu-west-1",  // for EKS; default: the instance's region
//	  "timeout":       "2s",         // per metadata/API request
//	  "max_attempts":  3             // SDK attempts per request
//	}
package aws
