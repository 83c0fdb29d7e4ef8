package main

import (
	"fmt"
	"strconv"
	"strings"

	meshfedv1 "github.com/meshfed/meshfed/proto/meshfed/v1"
)

// The workload: export i is service bench/svc-NNNNNN of cluster
// ownerOf(i), with 1-3 ports and ready endpoints in two zones. Bursts of
// consecutive exports go to the clusters round-robin.

const benchNamespace = "bench"

func clusterName(c int) string { return fmt.Sprintf("c%03d", c) }

func exportName(i int) string { return fmt.Sprintf("svc-%06d", i) }

// exportIndex is the inverse of exportName within benchNamespace.
func exportIndex(namespace, name string) (int, bool) {
	n, ok := strings.CutPrefix(name, "svc-")
	if namespace != benchNamespace || !ok {
		return 0, false
	}
	i, err := strconv.Atoi(n)
	return i, err == nil
}

// ownerOf is the cluster index that publishes export i.
func ownerOf(i, burst, clusters int) int { return (i / burst) % clusters }

func benchCluster(c int) *meshfedv1.Cluster {
	name := clusterName(c)
	return &meshfedv1.Cluster{
		Name:             name,
		TrustDomain:      name + ".bench",
		Locality:         &meshfedv1.Locality{Provider: "aws", Region: "eu-west-1", Zone: "eu-west-1a"},
		GatewayAddresses: []string{fmt.Sprintf("10.%d.%d.1:15443", c/250, c%250)},
	}
}

// benchExport is export i as a gateway publishes it (cluster unset: the
// request names it).
func benchExport(i int) *meshfedv1.Export {
	e := &meshfedv1.Export{Namespace: benchNamespace, Name: exportName(i)}
	for p := range i%3 + 1 {
		e.Ports = append(e.Ports, &meshfedv1.ServicePort{
			Name: fmt.Sprintf("p%d", p), Port: uint32(8080 + p), Protocol: "TCP", AppProtocol: "http",
		})
	}
	e.Endpoints = []*meshfedv1.ZoneEndpoints{
		{Zone: "eu-west-1a", Ready: uint32(i%5 + 1)},
		{Zone: "eu-west-1b", Ready: uint32(i%3 + 1)},
	}
	return e
}

// wantReady is the ready count an import of export i must show.
func wantReady(i int) uint32 { return uint32(i%5+1) + uint32(i%3+1) }
