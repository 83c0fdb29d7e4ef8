// Command testplugin is a provider plugin used only by the tests of package
// providers; see main.go for what it does on demand.
package main
