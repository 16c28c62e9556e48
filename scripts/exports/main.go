// Command exports measures the module's exported surfaces: for every
// package, how many top-level identifiers it exports, how many other
// packages' code uses, how many only other packages' tests use, and (with
// -v) which ones nothing outside the package uses, the candidates to
// unexport or delete. Run it from the module's root:
//
//	go run ./scripts/exports [-v]
//
// Code uses are exact (each package is type-checked, its imports read from
// the compiler's export data); test uses are found by name (pkg.Name). A
// name used only inside signatures of other exported names (a parameter or
// result type) counts as unused here, so read the list, do not obey it.
package main

import (
	"flag"
	"fmt"
	"go/ast"
	"go/build"
	"go/importer"
	"go/parser"
	"go/token"
	"go/types"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
)

func main() {
	verbose := flag.Bool("v", false, "list the names no other package uses")
	flag.Parse()

	// Every dependency's export data, so imports need no type-checking.
	exports := map[string]string{}
	for _, l := range goList("-export", "-deps", "-f", "{{.ImportPath}} {{.Export}}", "./...") {
		if p, f, ok := strings.Cut(l, " "); ok && f != "" {
			exports[p] = f
		}
	}
	fset := token.NewFileSet()
	imp := importer.ForCompiler(fset, "gc", func(path string) (io.ReadCloser, error) { return os.Open(exports[path]) })

	var pkgs []pkgInfo
	usedByCode := map[types.Object]bool{}
	for _, l := range goList("-f", "{{.ImportPath}} {{.Dir}}", "./...") {
		path, dir, _ := strings.Cut(l, " ")
		bp, err := build.ImportDir(dir, 0)
		if err != nil && len(bp.TestGoFiles)+len(bp.XTestGoFiles) == 0 {
			continue
		}
		var files []*ast.File
		for _, f := range bp.GoFiles {
			af, err := parser.ParseFile(fset, filepath.Join(dir, f), nil, 0)
			if err != nil {
				fail(err)
			}
			files = append(files, af)
		}
		var tests strings.Builder
		for _, f := range append(bp.TestGoFiles, bp.XTestGoFiles...) {
			b, err := os.ReadFile(filepath.Join(dir, f))
			if err != nil {
				fail(err)
			}
			tests.Write(b)
		}
		info := &types.Info{Uses: map[*ast.Ident]types.Object{}}
		tp, err := (&types.Config{Importer: imp}).Check(path, fset, files, info)
		if err != nil && len(files) > 0 {
			fail(err)
		}
		for _, o := range info.Uses {
			if o.Pkg() != nil && o.Pkg().Path() != path {
				usedByCode[exportedTwin(o, imp)] = true
			}
		}
		pkgs = append(pkgs, pkgInfo{path, tests.String(), tp})
	}

	fmt.Printf("%-32s %8s %8s %10s %8s\n", "package", "exported", "by code", "by tests", "unused")
	for _, p := range pkgs {
		if p.types == nil || p.types.Name() == "main" || len(p.types.Scope().Names()) == 0 {
			continue
		}
		var all, code, tests int
		var unused []string
		elem := p.path[strings.LastIndex(p.path, "/")+1:]
		for _, name := range p.types.Scope().Names() {
			o := p.types.Scope().Lookup(name)
			if !o.Exported() {
				continue
			}
			all++
			switch {
			case usedByCode[exportedTwin(o, imp)]:
				code++
			case usedByTests(pkgs, p.path, elem, name):
				tests++
			default:
				unused = append(unused, name)
			}
		}
		rel := strings.TrimPrefix(p.path, "github.com/logstream/logstream/")
		fmt.Printf("%-32s %8d %8d %10d %8d\n", rel, all, code, tests, len(unused))
		if *verbose && len(unused) > 0 {
			fmt.Printf("    %s\n", strings.Join(unused, " "))
		}
	}
}

// pkgInfo is one package of the module.
type pkgInfo struct {
	path  string
	tests string // its test files' text
	types *types.Package
}

// usedByTests reports whether another package's tests name elem.name.
func usedByTests(pkgs []pkgInfo, path, elem, name string) bool {
	re := regexp.MustCompile(`\b` + regexp.QuoteMeta(elem) + `\.` + regexp.QuoteMeta(name) + `\b`)
	for _, p := range pkgs {
		if p.path != path && re.MatchString(p.tests) {
			return true
		}
	}
	return false
}

// exportedTwin returns the object the export data holds for o: a package's
// own objects (from type-checking its source) and the ones its importers see
// (from export data) are different values for the same name.
func exportedTwin(o types.Object, imp types.Importer) types.Object {
	p, err := imp.Import(o.Pkg().Path())
	if err != nil {
		return o
	}
	if t := p.Scope().Lookup(o.Name()); t != nil && o.Parent() == o.Pkg().Scope() {
		return t
	}
	return o
}

func goList(args ...string) []string {
	out, err := exec.Command("go", append([]string{"list"}, args...)...).Output()
	if err != nil {
		fail(err)
	}
	return strings.Split(strings.TrimSpace(string(out)), "\n")
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "exports:", err)
	os.Exit(1)
}
