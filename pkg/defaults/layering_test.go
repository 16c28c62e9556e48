package defaults_test

import (
	"go/build"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const mod = "github.com/logstream/logstream/"

// TestLayering enforces the import rules README's "Architecture" states,
// on each package's own (non-test) imports:
//
//   - the pure cores (the cluster protocol, the producer pipeline, the
//     consumer groups' bookkeeping, the defaults, the phi formula) import no socket, file or goroutine
//     machinery, and of ours only defaults, record, wire and phi;
//   - pkg/defaults imports nothing of ours;
//   - urfave/cli is the command-line layer's alone;
//   - no library package imports the command-line layer.
func TestLayering(t *testing.T) {
	imports := map[string][]string{} // "pkg/x" -> imports
	root := filepath.Join("..", "..")
	err := filepath.WalkDir(filepath.Join(root, "pkg"), func(path string, d os.DirEntry, err error) error {
		if err != nil || !d.IsDir() || d.Name() == "testdata" {
			return err
		}
		p, err := build.Default.ImportDir(path, 0)
		if err != nil {
			return nil // no Go files here
		}
		rel, _ := filepath.Rel(root, path)
		imports[filepath.ToSlash(rel)] = p.Imports
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(imports) < 20 {
		t.Fatalf("found only %d packages under pkg/", len(imports))
	}
	pure := map[string]bool{"pkg/cluster": true, "pkg/client/pipeline": true, "pkg/groups": true, "pkg/defaults": true, "pkg/phi": true}
	pureOurs := map[string]bool{mod + "pkg/defaults": true, mod + "pkg/record": true, mod + "pkg/wire": true, mod + "pkg/phi": true}
	cliLayer := map[string]bool{"pkg/roles": true, "pkg/internal/ctl": true, "pkg/internal/cliutil": true, "pkg/internal/netdiag": true}
	for pkg, imps := range imports {
		for _, imp := range imps {
			switch {
			case pure[pkg] && (imp == "net" || strings.HasPrefix(imp, "net/") && imp != "net/netip" || imp == "os" ||
				strings.HasPrefix(imp, "os/") || imp == "syscall" || imp == "io/fs" || imp == "sync" ||
				strings.HasPrefix(imp, "golang.org/x/sys")):
				t.Errorf("%s is a pure core but imports %s", pkg, imp)
			case pure[pkg] && strings.HasPrefix(imp, mod) && !pureOurs[imp]:
				t.Errorf("%s is a pure core but imports %s", pkg, imp)
			case pkg == "pkg/defaults" && strings.HasPrefix(imp, mod):
				t.Errorf("pkg/defaults must import nothing of ours, imports %s", imp)
			case imp == "github.com/urfave/cli/v2" && !cliLayer[pkg]:
				t.Errorf("%s imports urfave/cli: command lines belong to %v", pkg, cliLayer)
			case !cliLayer[pkg] && strings.HasPrefix(imp, mod) && cliLayer[strings.TrimPrefix(imp, mod)]:
				t.Errorf("library package %s imports the command-line layer's %s", pkg, imp)
			}
		}
	}
}
