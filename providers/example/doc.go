// Command meshfed-provider-example is the minimal provider plugin that
// docs/providers.md walks through; the tests of package providers build and
// load it.
package main
