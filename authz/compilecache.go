package authz

import (
	"crypto/sha256"
	"encoding/binary"
	"maps"
	"slices"

	lru "github.com/hashicorp/golang-lru/v2"
	"github.com/open-policy-agent/opa/v1/ast"
)

// CompileCache keeps the last few compilations of the policy (the parsed
// and compiled modules and the prepared decision query), keyed by the
// modules' sources: compiling is a pure function of them, and a service
// compiles the same rules module more than once (checked, then loaded; a
// replica and a what-if of an unchanged set). The data documents are not
// part of it: every compilation gets a store of its own. It is safe for
// concurrent use, and several engines may share one (tests that start many
// services in one process do).
type CompileCache struct {
	c *lru.Cache[[32]byte, *compilation]
}

// compilation is what a CompileCache keeps of one compilation; it is never
// changed once built (OPA's evaluator only reads a compiler, as its
// prepared queries do when evaluated concurrently).
type compilation struct {
	compiler *ast.Compiler
	query    ast.Body // allowQuery, compiled
	parts    ast.Body // decisionQuery, compiled
	proj     *projection
	closed   bool // pruneClosedRules removed rules: knownLicense inputs only
}

// NewCompileCache keeps the last size compilations (size < 1: 8).
func NewCompileCache(size int) *CompileCache {
	if size < 1 {
		size = 8
	}
	c, _ := lru.New[[32]byte, *compilation](size) // only fails for size < 1
	return &CompileCache{c: c}
}

func (cc *CompileCache) get(key [32]byte) (*compilation, bool) {
	if cc == nil {
		return nil, false
	}
	return cc.c.Get(key)
}

func (cc *CompileCache) add(key [32]byte, c *compilation) {
	if cc != nil {
		cc.c.Add(key, c)
	}
}

// compileKey identifies the sources of a compilation: the static modules
// by name and the generated rules module.
func compileKey(static map[string]string, rulesModule string) [32]byte {
	h := sha256.New()
	names := slices.Sorted(maps.Keys(static))
	var n [8]byte
	write := func(s string) {
		binary.BigEndian.PutUint64(n[:], uint64(len(s)))
		h.Write(n[:])
		h.Write([]byte(s))
	}
	for _, name := range names {
		write(name)
		write(static[name])
	}
	write(GeneratedModuleName)
	write(rulesModule)
	var key [32]byte
	h.Sum(key[:0])
	return key
}
