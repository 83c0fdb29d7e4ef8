// Package drill is the end-to-end test of `meshfed drill`: a `meshfed up
// --detach` federation of three clusters (east, east-b, west), a drill of
// every fault kind with short durations, each report checked against what
// an independent traffic loop and the gateways' own metrics saw, a dry run
// that must change nothing, and a malformed drill file.
package drill
