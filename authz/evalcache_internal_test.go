package authz

import (
	"context"
	"fmt"
	"testing"
	"unsafe"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/storage"
	"github.com/open-policy-agent/opa/v1/storage/inmem"
)

// ShippedRules are shippedRules (projection_test.go) for the external
// test package's benchmarks.
var ShippedRules = shippedRules

// TestRuleCache checks the rule cache against what OPA's own virtual cache
// promises: values and undefined results by ref, frames that hide and drop
// what was put above them, the same answers once the frame is indexed, and
// nothing left over for the next evaluation.
func TestRuleCache(t *testing.T) {
	ref := func(s string) ast.Ref { return ast.MustParseRef(s) }
	tests := []struct {
		name string
		run  func(t *testing.T, c *ruleCache)
	}{
		{"value and undefined", func(t *testing.T, c *ruleCache) {
			c.Put(ref("data.a.b"), ast.StringTerm("x"))
			c.Put(ref("data.a.c"), nil)
			want(t, c, "data.a.b", `"x"`, false)
			want(t, c, "data.a.c", "", true)
			want(t, c, "data.a", "", false)
			want(t, c, "data.a.b.c", "", false)
		}},
		{"the ref is copied", func(t *testing.T, c *ruleCache) {
			r := ref("data.a.b")
			c.Put(r, ast.StringTerm("x"))
			r[2] = ast.StringTerm("z") // the evaluator reuses its slices
			want(t, c, "data.a.b", `"x"`, false)
			want(t, c, "data.a.z", "", false)
		}},
		{"keys with variable parts", func(t *testing.T, c *ruleCache) {
			c.Put(ast.Ref{ast.DefaultRootDocument, ast.StringTerm("f"), ast.IntNumberTerm(1)}, ast.BooleanTerm(true))
			c.Put(ast.Ref{ast.DefaultRootDocument, ast.StringTerm("f"), ast.StringTerm("1")}, ast.BooleanTerm(false))
			want(t, c, "data.f[1]", "true", false)
			want(t, c, `data.f["1"]`, "false", false)
		}},
		{"frames", func(t *testing.T, c *ruleCache) {
			c.Put(ref("data.a"), ast.StringTerm("outer"))
			c.Push()
			want(t, c, "data.a", "", false)
			c.Put(ref("data.a"), ast.StringTerm("inner"))
			c.Push()
			c.Put(ref("data.b"), nil)
			want(t, c, "data.b", "", true)
			c.Pop()
			want(t, c, "data.a", `"inner"`, false)
			want(t, c, "data.b", "", false)
			c.Pop()
			want(t, c, "data.a", `"outer"`, false)
			// The frame popped is empty when pushed again.
			c.Push()
			want(t, c, "data.a", "", false)
			c.Pop()
		}},
		{"put again", func(t *testing.T, c *ruleCache) {
			c.Put(ref("data.a"), nil)
			c.Put(ref("data.a"), ast.StringTerm("x"))
			want(t, c, "data.a", "", true) // as OPA's: undefined stays
			c.Put(ref("data.b"), ast.StringTerm("x"))
			c.Put(ref("data.b"), ast.StringTerm("y"))
			want(t, c, "data.b", `"y"`, false)
		}},
		{"indexed beyond indexAfter entries", func(t *testing.T, c *ruleCache) {
			const n = 3 * indexAfter
			for i := range n {
				c.Put(ref(fmt.Sprintf("data.p.r%d", i)), ast.IntNumberTerm(i))
			}
			for i := range n {
				want(t, c, fmt.Sprintf("data.p.r%d", i), fmt.Sprint(i), false)
			}
			want(t, c, "data.p.other", "", false)
			if got := len(c.Keys()); got != n {
				t.Fatalf("Keys: %d refs, want %d", got, n)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := getRuleCache()
			tt.run(t, c)
			c.release()
			// What the pool hands out next holds nothing.
			c = getRuleCache()
			defer c.release()
			if len(c.Keys()) != 0 || c.n != 1 {
				t.Fatalf("a released cache keeps %v (%d frames)", c.Keys(), c.n)
			}
			want(t, c, "data.a", "", false)
		})
	}
}

func want(t *testing.T, c *ruleCache, r, value string, undefined bool) {
	t.Helper()
	got, undef := c.Get(ast.MustParseRef(r))
	gotS := ""
	if got != nil {
		gotS = got.String()
	}
	if gotS != value || undef != undefined {
		t.Fatalf("Get(%s) = %q, %v; want %q, %v", r, gotS, undef, value, undefined)
	}
}

// TestDataCacheReadsAsTheStore: the data document answers what is in it,
// and leaves the root and what is missing to the store.
func TestDataCacheReadsAsTheStore(t *testing.T) {
	c := &dataCache{root: ast.MustParseTerm(`{"t": {"a": {"b": [1, 2]}, "e": {}}}`).Value}
	tests := []struct {
		ref  string
		want string // "" : nil
	}{
		{"data.t.a.b", "[1, 2]"},
		{"data.t.a.b[1]", "2"},
		{"data.t.e", "{}"},
		{"data.t.missing", ""},
		{"data.t.a.b.c", ""},
		{"data", ""},
	}
	for _, tt := range tests {
		got := c.Get(ast.MustParseRef(tt.ref))
		gotS := ""
		if got != nil {
			gotS = got.String()
		}
		if gotS != tt.want {
			t.Errorf("Get(%s) = %q, want %q", tt.ref, gotS, tt.want)
		}
	}
	if (&dataCache{}).Get(ast.MustParseRef("data.t")) != nil {
		t.Error("an empty data cache answered")
	}
}

// TestDataCacheReadsAsTheStore's Read half: what the evaluator reads from
// the store (the root, what the document lacks) is what the in-memory
// store answers for the same document, paths of numbers included.
func TestDataCacheReadAnswersAsTheStore(t *testing.T) {
	ctx := context.Background()
	doc := map[string]any{"t": map[string]any{"a": map[string]any{"b": []any{"x", "y"}, "1": "one"}, "e": map[string]any{}, "s": "str"}}
	st := inmem.NewFromObjectWithOpts(doc, inmem.OptRoundTripOnWrite(true), inmem.OptReturnASTValuesOnRead(true))
	c, err := readData(ctx, st)
	if err != nil {
		t.Fatal(err)
	}
	for range 2 { // the second time, the absent paths are remembered
		for _, path := range []string{"/", "/t", "/t/a/b", "/t/a/b/1", "/t/a/b/01", "/t/a/b/2", "/t/a/b/-1", "/t/a/b/x", "/t/a/1",
			"/t/e", "/t/e/x", "/t/s", "/t/s/x", "/missing", "/t/missing/deeper"} {
			p, ok := storage.ParsePath(path)
			if !ok {
				t.Fatal(path)
			}
			txn := storage.NewTransactionOrDie(ctx, st)
			want, wantErr := st.Read(ctx, txn, p)
			st.Abort(ctx, txn)
			got, gotErr := c.Read(ctx, noTxn, p)
			if storage.IsNotFound(wantErr) != storage.IsNotFound(gotErr) || (wantErr == nil) != (gotErr == nil) {
				t.Errorf("Read(%s): error %v, the store's %v", path, gotErr, wantErr)
				continue
			}
			if wantErr == nil && ast.Compare(got, want) != 0 {
				t.Errorf("Read(%s) = %v, the store's %v", path, got, want)
			}
		}
	}
}

// TestInternedTermsOwnTheirStrings: interned terms do not change when the
// caller's buffer does (Fiber reuses request memory), equal contents share
// a term, and the set starts again when full.
func TestInternedTermsOwnTheirStrings(t *testing.T) {
	var s interned
	buf := []byte("user-1")
	id := string(buf) // a copy; alias shares buf as Fiber's strings do
	alias := unsafe.String(&buf[0], len(buf))
	tm := s.term(alias)
	lst := s.list(alias)
	rel := s.related(&Related{ID: alias, Type: "shared"})
	one := s.single(alias, alias)
	copy(buf, "user-2")
	if got := string(tm.Value.(ast.String)); got != id {
		t.Fatalf("interned string changed with the caller's buffer: %q", got)
	}
	if got := lst.String(); got != `["user-1"]` {
		t.Fatalf("interned list = %s", got)
	}
	if got := rel.Value.(ast.Object).Get(kID).String(); got != `"user-1"` {
		t.Fatalf("interned related id = %s", got)
	}
	if got := one.String(); got != `{"user-1": ["user-1"]}` {
		t.Fatalf("interned single = %s", got)
	}
	if s.single("user-1", "x") == one || s.single("x", "user-1") == one {
		t.Fatal("different single objects shared a term")
	}
	if s.term("user-1") != tm || s.list("user-1") != lst || s.related(&Related{ID: "user-1", Type: "shared"}) != rel ||
		s.single("user-1", "user-1") != one {
		t.Fatal("equal contents did not share a term")
	}
	if s.related(&Related{ID: "user-1", Type: "managed"}) == rel {
		t.Fatal("different related objects shared a term")
	}
	for i := range maxInterned {
		s.term(fmt.Sprint("x", i))
	}
	if n := len(s.m); n > maxInterned {
		t.Fatalf("%d interned strings, bound %d", n, maxInterned)
	}
}
