//go:build !unix

package drill

import (
	"errors"
	"syscall"
)

const killSupported = false

func killProcess(int) error { return errors.New("killing processes is not supported on this system") }

func detachedAttr() *syscall.SysProcAttr { return nil }
