package cliutil

import (
	"os"
	"strconv"
)

// ReadyEnv names the file descriptor on which a process started by
// `logstreamctl start ... --background` says that it got past its start-up
// checks (command line, data directory, listening socket) and is running.
// logstreamctl waits for that word, or for the descriptor to close without
// it (the process exited), so a daemon that fails at once is reported as
// failed instead of "started" (the readiness pipe of classic daemons).
const ReadyEnv = "LOGSTREAM_READY_FD"

// ReadyWord is what SignalReady writes.
const ReadyWord = "ready\n"

// SignalReady tells whoever started us that we are running: it writes
// ReadyWord to the descriptor ReadyEnv names and closes it. Without the
// variable it does nothing; after the first call it does nothing.
func SignalReady() {
	s := os.Getenv(ReadyEnv)
	if s == "" {
		return
	}
	_ = os.Unsetenv(ReadyEnv)
	fd, err := strconv.Atoi(s)
	if err != nil || fd < 3 { // never stdin, stdout or stderr
		return
	}
	f := os.NewFile(uintptr(fd), "logstreamctl-ready")
	if f == nil {
		return
	}
	_, _ = f.WriteString(ReadyWord)
	_ = f.Close()
}
