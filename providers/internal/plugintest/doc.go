// Package plugintest builds provider plugin executables for tests, once
// per test binary, so tests run real plugin subprocesses against the real
// go-plugin host.
package plugintest
