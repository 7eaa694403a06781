package main

import (
	"go/ast"
	"go/build/constraint"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// The tests below hold ARCHITECTURE.md to the code, so that the map stays true:
// every package of the module is in its table, every package the table names
// exists, no package imports one of ours that its row does not allow, and every
// function the request's trip names is defined where the map says.

const modulePath = "github.com/sigv4-sidecar/sigv4-sidecar"

// architecture is what ARCHITECTURE.md states: each package's allowed imports
// (module-relative paths) and the functions of a request's trip.
type architecture struct {
	allowed map[string][]string
	trip    []string
}

var (
	// A table row: | `path` | sentence | `a`, `b` or none |
	packageRow = regexp.MustCompile("^\\|\\s*`([a-z0-9/._-]+)`\\s*\\|[^|]+\\|([^|]*)\\|\\s*$")
	backticked = regexp.MustCompile("`([^`]+)`")
	// A step of the trip names its function as `pkg/path.Func` or `pkg/path.Type.Method`.
	tripStep = regexp.MustCompile("^\\d+\\.\\s")
	funcRef  = regexp.MustCompile("^([a-z0-9/_-]+)\\.([A-Za-z_][A-Za-z0-9_]*)(?:\\.([A-Za-z_][A-Za-z0-9_]*))?$")
)

func readArchitecture(t *testing.T) architecture {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", "ARCHITECTURE.md"))
	if err != nil {
		t.Fatal(err)
	}
	a := architecture{allowed: map[string][]string{}}
	section := ""
	for _, line := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(line, "## ") {
			section = strings.TrimPrefix(line, "## ")
			continue
		}
		if m := packageRow.FindStringSubmatch(line); m != nil && strings.HasPrefix(section, "Packages") {
			var deps []string
			for _, d := range backticked.FindAllStringSubmatch(m[2], -1) {
				deps = append(deps, d[1])
			}
			if _, dup := a.allowed[m[1]]; dup {
				t.Errorf("ARCHITECTURE.md names package %s twice", m[1])
			}
			a.allowed[m[1]] = deps
		}
		if tripStep.MatchString(line) && strings.HasPrefix(section, "A request's trip") {
			for _, r := range backticked.FindAllStringSubmatch(line, -1) {
				if funcRef.MatchString(r[1]) {
					a.trip = append(a.trip, r[1])
				}
			}
		}
	}
	if len(a.allowed) == 0 || len(a.trip) == 0 {
		t.Fatalf("ARCHITECTURE.md: found %d package rows and %d trip steps; its tables changed shape", len(a.allowed), len(a.trip))
	}
	return a
}

// modulePackages lists the module's packages (directories holding non-test Go
// files), module-relative, with the module-internal imports of their non-test
// files. Nested modules (their own go.mod) and testdata are not ours here.
func modulePackages(t *testing.T) map[string][]string {
	t.Helper()
	root := filepath.Join("..", "..")
	pkgs := map[string][]string{}
	err := filepath.WalkDir(root, func(path string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			name := d.Name()
			if path != root && (strings.HasPrefix(name, ".") || name == "testdata" || name == "node_modules") {
				return filepath.SkipDir
			}
			if path != root {
				if _, err := os.Stat(filepath.Join(path, "go.mod")); err == nil {
					return filepath.SkipDir
				}
			}
			return nil
		}
		if !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return nil
		}
		f, err := parser.ParseFile(token.NewFileSet(), path, nil, parser.ImportsOnly|parser.ParseComments)
		if err != nil {
			return err
		}
		if generatorOnly(f) {
			return nil
		}
		rel, _ := filepath.Rel(root, filepath.Dir(path))
		rel = filepath.ToSlash(rel)
		deps := pkgs[rel]
		for _, imp := range f.Imports {
			p := strings.Trim(imp.Path.Value, `"`)
			if dep, ok := strings.CutPrefix(p, modulePath+"/"); ok && !slices.Contains(deps, dep) {
				deps = append(deps, dep)
			}
		}
		pkgs[rel] = deps
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return pkgs
}

// generatorOnly reports whether f is built only by `go run` (//go:build ignore,
// as endpoint/gen.go): it is no part of its folder's package.
func generatorOnly(f *ast.File) bool {
	for _, g := range f.Comments {
		if g.Pos() > f.Package {
			break
		}
		for _, c := range g.List {
			if expr, err := constraint.Parse(c.Text); err == nil && !expr.Eval(func(tag string) bool { return tag != "ignore" }) && expr.Eval(func(string) bool { return true }) {
				return true
			}
		}
	}
	return false
}

func TestArchitectureNamesEveryPackage(t *testing.T) {
	a := readArchitecture(t)
	pkgs := modulePackages(t)
	for p := range pkgs {
		if _, ok := a.allowed[p]; !ok {
			t.Errorf("package %s is not in ARCHITECTURE.md's package table", p)
		}
	}
	for p := range a.allowed {
		if _, ok := pkgs[p]; !ok {
			t.Errorf("ARCHITECTURE.md names package %s, which does not exist", p)
		}
	}
}

func TestArchitectureImportsRunItsWay(t *testing.T) {
	a := readArchitecture(t)
	for p, deps := range modulePackages(t) {
		allowed, ok := a.allowed[p]
		if !ok {
			continue // reported by TestArchitectureNamesEveryPackage
		}
		for _, d := range deps {
			if !slices.Contains(allowed, d) {
				t.Errorf("%s imports %s, which ARCHITECTURE.md does not allow it (allowed: %v)", p, d, allowed)
			}
		}
	}
}

func TestArchitectureTripNamesRealFunctions(t *testing.T) {
	a := readArchitecture(t)
	for _, ref := range a.trip {
		m := funcRef.FindStringSubmatch(ref)
		pkg, name, method := m[1], m[2], m[3]
		if !definesFunc(t, pkg, name, method) {
			t.Errorf("ARCHITECTURE.md's trip names %s, which package %s does not define", ref, pkg)
		}
	}
}

// definesFunc says whether package dir pkg defines func name, or, when method
// is set, a method of that name on type name.
func definesFunc(t *testing.T, pkg, name, method string) bool {
	t.Helper()
	dir := filepath.Join("..", "..", filepath.FromSlash(pkg))
	files, err := filepath.Glob(filepath.Join(dir, "*.go"))
	if err != nil || len(files) == 0 {
		return false
	}
	for _, path := range files {
		if strings.HasSuffix(path, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(token.NewFileSet(), path, nil, parser.SkipObjectResolution)
		if err != nil {
			t.Fatal(err)
		}
		for _, decl := range f.Decls {
			fn, ok := decl.(*ast.FuncDecl)
			if !ok {
				continue
			}
			if method == "" && fn.Recv == nil && fn.Name.Name == name {
				return true
			}
			if method != "" && fn.Recv != nil && fn.Name.Name == method && receiverName(fn.Recv) == name {
				return true
			}
		}
	}
	return false
}

func receiverName(recv *ast.FieldList) string {
	if len(recv.List) == 0 {
		return ""
	}
	x := recv.List[0].Type
	if s, ok := x.(*ast.StarExpr); ok {
		x = s.X
	}
	if g, ok := x.(*ast.IndexExpr); ok {
		x = g.X
	}
	if id, ok := x.(*ast.Ident); ok {
		return id.Name
	}
	return ""
}
