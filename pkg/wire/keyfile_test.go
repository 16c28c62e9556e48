package wire

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestLoadKey(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "key")
	os.WriteFile(good, []byte("0123456789abcdef0123\n"), 0o600)
	short := filepath.Join(dir, "short")
	os.WriteFile(short, []byte("abc\n"), 0o600)

	if k, err := LoadKey("", ""); k != nil || err != nil {
		t.Fatalf("nothing set: %v %v", k, err)
	}
	k1, err := LoadKey("", good)
	if err != nil {
		t.Fatal(err)
	}
	k2, _ := LoadKey("0123456789abcdef0123", "")
	// The file's newline is not part of the key: both seal alike.
	f, _, _ := DecodeFrame(k1.NewSealer(1).AppendFrame(nil, Frame{Type: TypeHeartbeat}), 0)
	if _, _, err := k2.NewOpener().Open(f); err != nil {
		t.Fatalf("file key and env key differ: %v", err)
	}
	for _, c := range []struct{ secret, file, want string }{
		{"x", good, "use one"},
		{"short", "", "shorter than"},
		{"", short, "shorter than"},
		{"", filepath.Join(dir, "missing"), "no such file"},
	} {
		if _, err := LoadKey(c.secret, c.file); err == nil || !strings.Contains(err.Error(), c.want) || strings.Contains(err.Error(), "\n") {
			t.Errorf("LoadKey(%q, %q) = %v, want one line containing %q", c.secret, c.file, err, c.want)
		}
	}
}
