//go:build !linux

package toolbin

// lockFile is a no-op outside Linux: concurrent builds may duplicate work but
// the atomic rename still keeps the cached binary intact.
func lockFile(string) (unlock func(), err error) { return func() {}, nil }
