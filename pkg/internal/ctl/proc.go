package ctl

import (
	"bytes"
	"errors"
	"os"
	"strconv"
	"syscall"

	"golang.org/x/sys/unix"
)

// procStat is what /proc/PID/stat tells us about a process.
type procStat struct {
	State      byte   // R, S, D, Z, X, ...
	StartTicks uint64 // field 22: start time in clock ticks after boot
}

// readProcStat parses /proc/PID/stat. The command name (field 2) may hold
// spaces and parentheses, so fields are counted after the last ')'.
func readProcStat(pid int) (procStat, error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return procStat{}, err
	}
	return parseProcStat(b)
}

var errBadStat = errors.New("malformed /proc stat")

func parseProcStat(b []byte) (procStat, error) {
	i := bytes.LastIndexByte(b, ')')
	if i < 0 || i+2 >= len(b) {
		return procStat{}, errBadStat
	}
	fields := bytes.Fields(b[i+1:])
	// fields[0] is field 3 (state); field 22 is fields[19].
	if len(fields) < 20 || len(fields[0]) != 1 || !isLetter(fields[0][0]) {
		return procStat{}, errBadStat
	}
	ticks, err := strconv.ParseUint(string(fields[19]), 10, 64)
	if err != nil {
		return procStat{}, errBadStat
	}
	return procStat{State: fields[0][0], StartTicks: ticks}, nil
}

func isLetter(c byte) bool { return c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' }

// haveProc reports whether /proc can identify processes on this system.
func haveProc() bool {
	_, err := os.Stat("/proc/self/stat")
	return err == nil
}

// startTicks returns the start time of pid, 0 if unknown.
func startTicks(pid int) uint64 {
	st, err := readProcStat(pid)
	if err != nil {
		return 0
	}
	return st.StartTicks
}

// isOurs reports whether pid is alive and is the process we launched: not a
// zombie, and (when we recorded it) started at the same tick. A PID reused
// by another process has a different start time and is therefore not ours.
func isOurs(pid int, ticks uint64) bool {
	if pid <= 0 {
		return false
	}
	if haveProc() {
		st, err := readProcStat(pid)
		if err != nil {
			return false
		}
		if st.State == 'Z' || st.State == 'X' {
			return false
		}
		return ticks == 0 || st.StartTicks == ticks
	}
	err := unix.Kill(pid, 0)
	return err == nil || errors.Is(err, unix.EPERM)
}

// signalOurs sends sig to pid only after checking it is still our child.
func signalOurs(pid int, ticks uint64, sig syscall.Signal) error {
	if !isOurs(pid, ticks) {
		return errGone
	}
	err := unix.Kill(pid, sig)
	if errors.Is(err, unix.ESRCH) {
		return errGone
	}
	return err
}

var errGone = errors.New("process is no longer running")
