package kv

import (
	"flag"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stateflush/stateflush/internal/generated"
)

var updateParts = flag.Bool("update-parts", false, "rewrite README.md's count of Server's methods and its parts'")

// serverParts are the types a server's concerns live in (Server's doc comment), in the order the
// README names them.
var serverParts = []string{"Server", "GroupMembership", "stateFlush", "snapshotState", "bucketPlacement"}

// methodCounts counts, by receiver type, the methods declared in this package's non-test files.
func methodCounts(t *testing.T) map[string]int {
	t.Helper()
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	counts := map[string]int{}
	fset := token.NewFileSet()
	for _, name := range files {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, name, nil, parser.SkipObjectResolution)
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range f.Decls {
			fd, ok := d.(*ast.FuncDecl)
			if !ok || fd.Recv == nil || len(fd.Recv.List) != 1 {
				continue
			}
			typ := fd.Recv.List[0].Type
			if star, ok := typ.(*ast.StarExpr); ok {
				typ = star.X
			}
			if id, ok := typ.(*ast.Ident); ok {
				counts[id.Name]++
			}
		}
	}
	return counts
}

// The README's count of Server's methods and its parts' is the package's (go test ./protocol/kv
// -run TestReadmeCountsServerParts -update-parts rewrites it).
func TestReadmeCountsServerParts(t *testing.T) {
	counts := methodCounts(t)
	var parts []string
	for _, p := range serverParts[1:] {
		if counts[p] == 0 {
			t.Fatalf("part %s has no methods: the list of parts is out of date", p)
		}
		parts = append(parts, fmt.Sprintf("`%s` %d", p, counts[p]))
	}
	want := fmt.Sprintf("`kv.Server` has %d methods; its parts: %s.\n", counts["Server"], strings.Join(parts, ", "))
	generated.Check(t, "../../README.md",
		"<!-- server-parts:begin (generated: go test ./protocol/kv -run TestReadmeCountsServerParts -update-parts) -->",
		"<!-- server-parts:end -->", want, *updateParts,
		"run go test ./protocol/kv -run TestReadmeCountsServerParts -update-parts")
}
