package defaults_test

import (
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/logstream/logstream/pkg/defaults"
)

// TestOneHome: the distinctive defaults and bounds are written in
// pkg/defaults alone. A literal in any other non-test Go file of the module
// that equals one of them is a second home (it drifts when the first
// changes); such code must name the constant instead. Only literals that
// could hardly mean anything else are checked: ports, the multicast group,
// the producer's message template, the name pattern and the one-day bound
// (10000 or 1000 would also catch unrelated bounds).
func TestOneHome(t *testing.T) {
	ints := map[string]string{
		fmt.Sprint(defaults.BrokerPort):    "BrokerPort",
		fmt.Sprint(defaults.DiscoveryPort): "DiscoveryPort",
		fmt.Sprint(defaults.MaxSeconds):    "MaxSeconds",
	}
	strs := map[string]string{
		defaults.MulticastGroup: "MulticastGroup",
		defaults.Message:        "Message",
		defaults.NamePattern:    "NamePattern",
	}
	root := filepath.Join("..", "..")
	files := 0
	for _, dir := range []string{"pkg", "cmd", "main.go"} {
		err := filepath.WalkDir(filepath.Join(root, dir), func(path string, d os.DirEntry, err error) error {
			switch {
			case err != nil:
				return err
			case d.IsDir() && (d.Name() == "testdata" || path == filepath.Join(root, "pkg", "defaults")):
				return filepath.SkipDir
			case d.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go"):
				return nil
			}
			files++
			fset := token.NewFileSet()
			f, err := parser.ParseFile(fset, path, nil, parser.SkipObjectResolution)
			if err != nil {
				return err
			}
			ast.Inspect(f, func(n ast.Node) bool {
				lit, ok := n.(*ast.BasicLit)
				if !ok {
					return true
				}
				v := strings.ReplaceAll(lit.Value, "_", "")
				name, found := ints[v]
				if lit.Kind == token.STRING {
					s, err := strconv.Unquote(lit.Value)
					name, found = strs[s], err == nil && strs[s] != ""
				} else if lit.Kind != token.INT {
					found = false
				}
				if found {
					t.Errorf("%s: literal %s: use defaults.%s", fset.Position(lit.Pos()), lit.Value, name)
				}
				return true
			})
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	if files < 100 {
		t.Fatalf("read only %d Go files; has the tree moved?", files)
	}
}
