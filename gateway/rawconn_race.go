//go:build race

package gateway

import (
	"runtime"
	"unsafe"
)

// Under the race detector, fastConn tells it what its raw system calls
// read and write, as package syscall does for its own calls.
func raceReadRange(p []byte) {
	if len(p) > 0 {
		runtime.RaceReadRange(unsafe.Pointer(&p[0]), len(p))
	}
}

func raceWriteRange(p []byte) {
	if len(p) > 0 {
		runtime.RaceWriteRange(unsafe.Pointer(&p[0]), len(p))
	}
}
