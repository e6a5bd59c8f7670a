package authz

import (
	"context"
	"maps"
	"sync"
	"sync/atomic"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/storage"
	"github.com/open-policy-agent/opa/v1/topdown"
	"github.com/open-policy-agent/opa/v1/util"
)

// The two caches OPA's evaluator keeps per evaluation, supplied by the
// engine so that a decision does not build them anew.
//
// OPA's own caches are tries of hash maps allocated for every evaluation:
// about 60 allocations per decision for the results of the 20-odd rules a
// decision evaluates (the virtual cache), and 25 more plus a store read for
// every table read (the base cache). Neither changes what is evaluated:
// they only remember, within one evaluation, what was already computed or
// read.

// dataCache is a topdown.BaseCache over the data document of one policy
// revision, read once from the store when the revision is compiled (or
// patched): a read of data.rulekeeper.tables.… is a lookup in that value,
// not a store read. It is what the store would answer: the engine's store
// is built from the same value, only Patch writes to it, and Patch gives
// the new revision a new dataCache read after its commit. Put does
// nothing: the document is complete.
//
// It is also the storage.Store the evaluator reads what Get does not
// answer from (the root, and what is not in the document): Read answers
// from the same document, as the store would, without a store
// transaction (readOnly) and without the store's allocations for a path
// that is not there. Every other method is the store's (the evaluator
// calls none). The store changes the document in place when Patch
// commits: evaluations hold compiled.guard instead of a transaction.
type dataCache struct {
	storage.Store
	root   ast.Value
	absent atomic.Pointer[map[string]struct{}] // paths Read found absent (by kstr)
	mu     sync.Mutex                          // held to add to absent
}

var (
	_ topdown.BaseCache = (*dataCache)(nil)
	_ storage.Store     = (*dataCache)(nil)
)

// Get is the value at ref (data.…) or nil when the document has none. The
// root itself is left to Read (the evaluator hides its system document).
func (c *dataCache) Get(ref ast.Ref) ast.Value {
	if c.root == nil || len(ref) < 2 {
		return nil
	}
	v, err := c.root.Find(ref[1:])
	if err != nil {
		return nil
	}
	return v
}

// Put does nothing: the document is complete.
func (*dataCache) Put(ast.Ref, ast.Value) {}

// errNotInData is Read's answer for a path the document does not have.
var errNotInData = &storage.Error{Code: storage.NotFoundErr, Message: "not in the policy data"}

// Read is the value at path in the document, or a not-found error, read as
// the in-memory store reads its own (storage/internal/ptr.ValuePtr):
// objects by string key, arrays by integer index.
//
// The evaluator reads here what Get did not find: the root, and the paths
// the document lacks — most of them the same few on every decision (a rule
// bucket's absent lists), so the paths found absent are remembered (at
// most maxAbsent): the next read of one is a map lookup, not a walk with a
// key term per step. Only absences are remembered, and Get, which reads
// the document as it is, comes first: a path a Patch adds is found there.
func (c *dataCache) Read(_ context.Context, _ storage.Transaction, path storage.Path) (any, error) {
	if c.root == nil {
		return nil, errNotInData
	}
	var buf [128]byte
	key := buf[:0]
	for _, seg := range path {
		key = kstr(key, seg)
	}
	if m := c.absent.Load(); m != nil {
		if _, ok := (*m)[string(key)]; ok {
			return nil, errNotInData
		}
	}
	v := c.root
	for _, seg := range path {
		switch x := v.(type) {
		case ast.Object:
			t := x.Get(ast.StringTerm(seg))
			if t == nil {
				c.remember(key)
				return nil, errNotInData
			}
			v = t.Value
		case *ast.Array:
			i, ok := util.Atoi(seg)
			if !ok || i < 0 || i >= x.Len() {
				c.remember(key)
				return nil, errNotInData
			}
			v = x.Elem(i).Value
		default:
			c.remember(key)
			return nil, errNotInData
		}
	}
	return v, nil
}

// remember adds the path of key to the absent ones (a new map: readers
// take none of Read's locks).
func (c *dataCache) remember(key []byte) {
	c.mu.Lock()
	defer c.mu.Unlock()
	old := c.absent.Load()
	var n int
	if old != nil {
		n = len(*old)
	}
	if n >= maxAbsent {
		return
	}
	m := make(map[string]struct{}, n+1)
	if old != nil {
		maps.Copy(m, *old)
	}
	m[string(key)] = struct{}{}
	c.absent.Store(&m)
}

// maxAbsent bounds the absent paths a dataCache remembers.
const maxAbsent = 512

// readOnly is the transaction evaluations hand the evaluator: dataCache
// reads need none.
type readOnly struct{}

// ID is 0: no store transaction has it.
func (readOnly) ID() uint64 { return 0 }

// noTxn is readOnly as a storage.Transaction.
var noTxn storage.Transaction = readOnly{}

// ruleCache is a topdown.VirtualCache reused from one evaluation to the
// next (ruleCaches): the values of the rules evaluated so far, by ref, in
// frames (OPA pushes one per "with"). A decision caches a few dozen refs,
// so each frame is a list scanned by hash, indexed by a map only when it
// grows long; the refs are copied into an arena that is kept between
// evaluations.
type ruleCache struct {
	frames []ruleFrame
	n      int // frames in use (≥ 1)
	// result collects the results of the evaluation the cache serves,
	// with its iterator bound once (a closure per decision would
	// allocate).
	result results
}

// results counts the results of a query and keeps the decision's parts.
type results struct {
	allow, grants, denies *ast.Term
	n                     int
	iter                  func(topdown.QueryResult) error
}

func (r *results) add(qr topdown.QueryResult) error {
	r.n++
	r.allow = qr[allowVar]
	if g, ok := qr[grantsVar]; ok {
		r.grants, r.denies = g, qr[deniesVar]
	}
	return nil
}

var _ topdown.VirtualCache = (*ruleCache)(nil)

type ruleFrame struct {
	entries []ruleEntry
	arena   []*ast.Term
	index   map[int]int32 // hash → last entry with it, once the frame is long
}

type ruleEntry struct {
	hash      int
	ref       ast.Ref
	value     *ast.Term
	undefined bool
	prev      int32 // previous entry with the same hash (index only), -1: none
}

// indexAfter is the length of a frame from which it is indexed by a map.
const indexAfter = 32

var ruleCaches = sync.Pool{New: func() any {
	c := &ruleCache{frames: make([]ruleFrame, 1, 2), n: 1}
	c.result.iter = c.result.add
	return c
}}

// getRuleCache is an empty rule cache, to be given back with release once
// the evaluation is over (nothing of it may be kept).
func getRuleCache() *ruleCache { return ruleCaches.Get().(*ruleCache) }

// release empties c and returns it to the pool.
func (c *ruleCache) release() {
	for i := range c.frames {
		c.frames[i].reset()
	}
	c.n = 1
	c.result = results{iter: c.result.iter}
	ruleCaches.Put(c)
}

func (f *ruleFrame) reset() {
	clear(f.entries)
	f.entries = f.entries[:0]
	clear(f.arena)
	f.arena = f.arena[:0]
	if f.index != nil {
		clear(f.index)
	}
}

func (c *ruleCache) top() *ruleFrame { return &c.frames[c.n-1] }

// Push starts an empty frame.
func (c *ruleCache) Push() {
	if c.n == len(c.frames) {
		c.frames = append(c.frames, ruleFrame{})
	}
	c.n++
}

// Pop drops the top frame and what it holds.
func (c *ruleCache) Pop() {
	if c.n == 1 {
		// OPA never pops the frame it did not push; keep one anyway.
		c.top().reset()
		return
	}
	c.top().reset()
	c.n--
}

// find is the index of ref in f, or -1.
func (f *ruleFrame) find(ref ast.Ref, h int) int {
	if f.index != nil {
		i, ok := f.index[h]
		for ok && i >= 0 {
			if f.entries[i].ref.Equal(ref) {
				return int(i)
			}
			i = f.entries[i].prev
		}
		return -1
	}
	for i := len(f.entries) - 1; i >= 0; i-- {
		if f.entries[i].hash == h && f.entries[i].ref.Equal(ref) {
			return i
		}
	}
	return -1
}

// Get is the value cached for ref: (nil, true) when it was found
// undefined, (nil, false) when nothing is cached.
func (c *ruleCache) Get(ref ast.Ref) (*ast.Term, bool) { return c.get(ref, ref.Hash()) }

// get is Get of a ref whose hash is h.
func (c *ruleCache) get(ref ast.Ref, h int) (*ast.Term, bool) {
	f := c.top()
	if len(f.entries) == 0 {
		return nil, false
	}
	i := f.find(ref, h)
	if i < 0 {
		return nil, false
	}
	e := &f.entries[i]
	if e.undefined {
		return nil, true
	}
	return e.value, false
}

// Put caches value for ref (nil: ref is undefined).
func (c *ruleCache) Put(ref ast.Ref, value *ast.Term) {
	f := c.top()
	h := ref.Hash()
	if i := f.find(ref, h); i >= 0 {
		e := &f.entries[i]
		if value != nil {
			e.value = value
		} else {
			e.undefined = true
		}
		return
	}
	// The evaluator reuses the ref's slice: keep a copy of it.
	start := len(f.arena)
	f.arena = append(f.arena, ref...)
	e := ruleEntry{hash: h, ref: ast.Ref(f.arena[start:len(f.arena):len(f.arena)]), value: value, undefined: value == nil, prev: -1}
	f.entries = append(f.entries, e)
	switch {
	case f.index != nil:
		f.add(len(f.entries) - 1)
	case len(f.entries) > indexAfter:
		f.index = make(map[int]int32, 2*indexAfter)
		for i := range f.entries {
			f.add(i)
		}
	}
}

// add indexes entry i.
func (f *ruleFrame) add(i int) {
	e := &f.entries[i]
	if j, ok := f.index[e.hash]; ok {
		e.prev = j
	} else {
		e.prev = -1
	}
	f.index[e.hash] = int32(i)
}

// Keys are the refs with a value in the top frame.
func (c *ruleCache) Keys() []ast.Ref {
	f := c.top()
	var keys []ast.Ref
	for _, e := range f.entries {
		if e.value != nil {
			keys = append(keys, e.ref.Copy())
		}
	}
	return keys
}
