//go:build !linux

package bench

import (
	"errors"
	"syscall"
)

// readProc needs Linux's /proc; elsewhere memory and CPU are unknown.
func readProc(int) (procStats, error) {
	return procStats{}, errors.New("process statistics need Linux's /proc")
}

// selfCPU is unknown outside Linux.
func selfCPU() (float64, bool) { return 0, false }

// childAttrs has nothing to set outside Linux.
func childAttrs() *syscall.SysProcAttr { return nil }
