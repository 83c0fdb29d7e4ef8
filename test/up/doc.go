// Package up_test runs `meshfed up` and `meshfed down` as a user does:
// the meshfed binary, built once, starts a whole federation of child
// processes on loopback, and the tests call it through the gateways'
// forward proxies and gRPC ports, with the printed commands, and stop it.
package up_test
