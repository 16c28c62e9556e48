package testnet

import (
	"bytes"
	"context"
	"fmt"
	"os/exec"
	"strings"
	"time"
)

// ipTimeout bounds every iproute2 call so a wedged `ip` cannot hang a test.
const ipTimeout = 30 * time.Second

// ip runs iproute2 with args and returns its stdout. Errors carry the
// command line and ip's own message.
func ip(args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), ipTimeout)
	defer cancel()
	var stdout, stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, "ip", args...)
	cmd.Stdout = &stdout
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		msg := strings.TrimSpace(stderr.String())
		return "", fmt.Errorf("ip %s: %v: %s", strings.Join(args, " "), err, msg)
	}
	return stdout.String(), nil
}

// ipBatch runs several commands in one namespace with a single `ip`
// process: `ip -n NS -batch -` reads one command a line.
func ipBatch(ns string, lines ...string) error {
	ctx, cancel := context.WithTimeout(context.Background(), ipTimeout)
	defer cancel()
	var stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, "ip", "-n", ns, "-batch", "-")
	cmd.Stdin = strings.NewReader(strings.Join(lines, "\n") + "\n")
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("ip -n %s -batch (%s): %v: %s", ns, strings.Join(lines, "; "), err, strings.TrimSpace(stderr.String()))
	}
	return nil
}
