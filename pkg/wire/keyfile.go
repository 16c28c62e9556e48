package wire

import (
	"bytes"
	"fmt"
	"io"
	"os"
)

// Where a process finds its cluster key.
const (
	KeyEnv     = "LOGSTREAM_CLUSTER_KEY"      // the secret itself
	KeyFileEnv = "LOGSTREAM_CLUSTER_KEY_FILE" // same as --cluster-key-file
)

// LoadKey returns the cluster key given as a secret (LOGSTREAM_CLUSTER_KEY)
// or as a file holding it (--cluster-key-file; trailing whitespace is
// ignored), or nil when neither is set (an open cluster). Each error is one
// line naming what to fix.
func LoadKey(secret, file string) (*Key, error) {
	switch {
	case secret != "" && file != "":
		return nil, fmt.Errorf("both %s and --cluster-key-file are set; use one", KeyEnv)
	case secret != "":
		k, err := NewKey([]byte(secret))
		if err != nil {
			return nil, fmt.Errorf("%s: %w", KeyEnv, err)
		}
		return k, nil
	case file == "":
		return nil, nil
	}
	f, err := os.Open(file)
	if err != nil {
		return nil, fmt.Errorf("--cluster-key-file: %w", err)
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, MaxKeyLen+2))
	if err != nil {
		return nil, fmt.Errorf("--cluster-key-file %s: %w", file, err)
	}
	b = bytes.TrimRight(b, " \t\r\n")
	if len(b) > MaxKeyLen {
		return nil, fmt.Errorf("--cluster-key-file %s: longer than %d bytes", file, MaxKeyLen)
	}
	k, err := NewKey(b)
	if err != nil {
		return nil, fmt.Errorf("--cluster-key-file %s: %w", file, err)
	}
	return k, nil
}
