package authz

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	lru "github.com/hashicorp/golang-lru/v2"
)

// Errors of hydration; wrap-checked with errors.Is.
var (
	// ErrNotFound: the store has no entity with that id.
	ErrNotFound = errors.New("not found")
	// ErrNotStored: the store keeps no resources of that type; the caller's
	// properties are used as they are.
	ErrNotStored = errors.New("resource type not stored")
)

// Entities loads what the policy needs to know about stored entities.
// Implementations return ErrNotFound and ErrNotStored (wrapped or not).
type Entities interface {
	// Subject returns the user with id, with groups, license and the
	// effective roles in every space they belong to.
	Subject(ctx context.Context, id string) (*Subject, error)
	// Resource returns the stored resource of type typ with id, with its
	// space (and app, for app objects) filled in.
	Resource(ctx context.Context, typ, id string) (*Resource, error)
	// Space returns the space with id ("" never reaches it).
	Space(ctx context.Context, id string) (*Related, error)
}

// Request is a question by reference: the subject by id (or in full, for a
// subject the store does not know) and the resource by type and id (or in
// full, for types the store does not keep and for resources not yet created).
type Request struct {
	Subject     Subject
	Action      string
	Resource    Resource
	Environment string
}

// hydrate turns a request into a complete input, written to in (the
// caller's, so that a decision allocates no input). Stored entities win
// over what the caller says about them, except the subject's custom
// attributes, which the caller may override for this decision; the caller's target space (for a
// move) and properties of unstored types are kept.
func (e *Engine) hydrate(ctx context.Context, req *Request, in *Input) error {
	return e.hydrateWith(ctx, req, in, nil)
}

// hydrateWith is hydrate with subjects and resources looked up through b
// (a prefetched batch) when b is not nil.
func (e *Engine) hydrateWith(ctx context.Context, req *Request, in *Input, b *Batch) error {
	*in = Input{Subject: req.Subject, Action: req.Action, Resource: req.Resource, Environment: req.Environment}
	if e.entities == nil {
		return nil
	}
	if req.Subject.ID == "" {
		return fmt.Errorf("subject: %w: no id", ErrNotFound)
	}
	var s *Subject
	var err error
	if b != nil {
		s, err = b.subject(ctx, req.Subject.ID)
	} else {
		s, err = e.entities.subject(ctx, req.Subject.ID)
	}
	switch {
	case err == nil:
		in.Subject = *s
		if len(req.Subject.Attributes) > 0 {
			in.Subject.Attributes = overlayAttrs(s.Attributes, req.Subject.Attributes)
		}
	case errors.Is(err, ErrNotFound) && !req.Subject.bare():
		// An unknown subject described in full by a privileged caller.
	default:
		return fmt.Errorf("subject %q: %w", req.Subject.ID, err)
	}
	if req.Resource.ID != "" {
		var r *Resource
		var err error
		if b != nil {
			r, err = b.resource(ctx, req.Resource.Type, req.Resource.ID)
		} else {
			r, err = e.entities.resource(ctx, req.Resource.Type, req.Resource.ID)
		}
		switch {
		case err == nil && e.external(req.Resource.Type):
			in.Resource = overlay(r, &req.Resource)
		case err == nil:
			in.Resource = *r
			in.Resource.TargetSpaceID = req.Resource.TargetSpaceID
			in.Resource.TargetSpaceType = req.Resource.TargetSpaceType
		case errors.Is(err, ErrNotStored):
		case errors.Is(err, ErrNotFound) && !req.Resource.bare():
			// A resource the store does not hold (yet), described in full
			// by the caller: decided as described.
		default:
			return fmt.Errorf("%s %q: %w", req.Resource.Type, req.Resource.ID, err)
		}
	}
	r := &in.Resource
	if r.SpaceID != "" && r.Space == nil {
		sp, err := e.entities.space(ctx, r.SpaceID)
		if err != nil {
			return fmt.Errorf("space %q: %w", r.SpaceID, err)
		}
		r.Space, r.SpaceType = sp, sp.Type
	}
	if r.TargetSpaceID != "" && r.TargetSpaceType == "" {
		sp, err := e.entities.space(ctx, r.TargetSpaceID)
		if err != nil {
			return fmt.Errorf("target space %q: %w", r.TargetSpaceID, err)
		}
		r.TargetSpaceType = sp.Type
	}
	return nil
}

// overlayAttrs is stored with the caller's attributes in place of those of the
// same name: inline subject attributes override stored ones for one
// decision (the stored map, shared by the entity cache, is not touched).
func overlayAttrs(stored, inline map[string][]string) map[string][]string {
	out := make(map[string][]string, len(stored)+len(inline))
	for k, v := range stored {
		out[k] = v
	}
	for k, v := range inline {
		out[k] = v
	}
	return out
}

// external reports whether typ is an external type of the registry.
func (e *Engine) external(typ string) bool {
	if e.opts.Types == nil {
		return false
	}
	_, ok := e.opts.Types.External(typ)
	return ok
}

// overlay is the stored resource of an external type with what the caller
// sent inline laid over it: inline wins, attribute by attribute, and for
// the name, owner and space when given. (For built-in types the stored
// entity wins: rulekeeper keeps them, the caller may be stale.)
func overlay(stored, inline *Resource) Resource {
	out := *stored
	if len(inline.Attributes) > 0 {
		out.Attributes = make(map[string][]string, len(stored.Attributes)+len(inline.Attributes))
		maps.Copy(out.Attributes, stored.Attributes)
		maps.Copy(out.Attributes, inline.Attributes)
	}
	if inline.Name != "" {
		out.Name = inline.Name
	}
	if inline.Owner != "" {
		out.Owner = inline.Owner
	}
	if inline.SpaceID != "" && inline.SpaceID != stored.SpaceID {
		out.SpaceID, out.SpaceType, out.Space = inline.SpaceID, "", nil
	}
	return out
}

// bare reports whether only the type and id (and a move's target) were
// given.
func (r *Resource) bare() bool {
	return r.Name == "" && r.Owner == "" && r.SpaceID == "" && r.SpaceType == "" && r.ObjectType == "" &&
		!r.Public && !r.SectionAccess && r.Attributes == nil && r.Space == nil && r.App == nil
}

// bare reports whether only the id was given.
func (s *Subject) bare() bool {
	return s.Name == "" && s.Email == "" && s.Status == "" && s.Roles == nil && s.Groups == nil &&
		s.License.Type == "" && s.Spaces == nil && s.Attributes == nil
}

// Invalidate drops the cached entity of kind ("subject", "space" or a
// resource type) and id. Call it after every write, before answering.
func (e *Engine) Invalidate(kind, id string) {
	if e.entities != nil {
		e.entities.invalidate(kind, id)
	}
}

// InvalidateAll drops every cached entity, e.g. after a membership change
// that affects many subjects.
func (e *Engine) InvalidateAll() {
	if e.entities != nil {
		e.entities.purge()
	}
}

// DefaultEntityTTL bounds how long another replica's write can go unseen
// by this replica's hydration (writes through this replica invalidate at
// once).
const DefaultEntityTTL = 5 * time.Second

// entityCache puts a TTL-bounded LRU in front of Entities.
//
// The TTL is checked on read (an entry older than the TTL is a miss), not
// by golang-lru's expirable LRU, whose background reaper panics under
// concurrent use (hashicorp/golang-lru#181: nil pointer in removeElement,
// seen in this repository's tests).
//
// An entry used in the last quarter of its life is reloaded in the
// background (refresh-ahead, which also keeps it at the LRU's front:
// hits do not reorder), so entities in steady use are not reloaded on
// a request's path; the TTL still bounds the age of every entity served.
// gen is bumped by every invalidation: a load that began before one does
// not store what it read (it may predate the write).
type entityCache struct {
	src        Entities
	cache      *lru.Cache[entityKey, entry]
	ttl        time.Duration
	gen        atomic.Int64
	refreshing sync.Map // key → struct{}: background reloads under way
	metrics    *metrics
}

type entry struct {
	v  any
	at time.Time
}

func newEntityCache(src Entities, ttl time.Duration) *entityCache {
	if src == nil {
		return nil
	}
	c := &entityCache{src: src}
	if ttl >= 0 {
		if ttl == 0 {
			ttl = DefaultEntityTTL
		}
		c.ttl = ttl
		c.cache, _ = lru.New[entityKey, entry](50_000) // fails only for a size <= 0
	}
	return c
}

// cached is the entity of key, from the cache or loaded. A hit allocates
// nothing (no closure: the loader is chosen by key.kind).
func cached[T any](ctx context.Context, c *entityCache, key entityKey) (*T, error) {
	if c.cache != nil {
		// Peek, not Get: a hit takes the read lock and moves nothing, so
		// concurrent decisions do not queue on the LRU's mutex. Recency
		// still follows use: an entry in use is reloaded (refresh, Add:
		// to the front) every three quarters of its TTL.
		if e, ok := c.cache.Peek(key); ok {
			if age := time.Since(e.at); age <= c.ttl {
				if c.metrics != nil {
					c.metrics.entityHits.Inc()
				}
				if age > c.ttl*3/4 {
					c.refresh(ctx, key)
				}
				if v := e.v.(*T); v != nil {
					return v, nil
				}
				return nil, ErrNotStored
			}
		}
	}
	if c.metrics != nil {
		c.metrics.entityMisses.Inc()
	}
	gen, at := c.gen.Load(), time.Now()
	v, err := c.load(ctx, key)
	if errors.Is(err, ErrNotStored) && c.cache != nil && c.gen.Load() == gen {
		// Remembered too: a resource of an external type that is not
		// stored (decided on inline properties) costs no lookup per
		// decision. Its PUT invalidates the entry.
		c.cache.Add(key.owned(), entry{v: (*T)(nil), at: at})
	}
	if err != nil {
		return nil, err
	}
	if c.cache != nil && c.gen.Load() == gen {
		c.cache.Add(key.owned(), entry{v: v, at: at})
	}
	return v.(*T), nil
}

// load reads the entity of key from the store: a *Subject, *Resource or
// *Related, never a nil one without an error.
func (c *entityCache) load(ctx context.Context, key entityKey) (any, error) {
	switch key.kind {
	case 's':
		v, err := c.src.Subject(ctx, key.id)
		if err == nil && v == nil {
			err = errors.New("subject: the store answered nothing")
		}
		return v, err
	case 'r':
		v, err := c.src.Resource(ctx, key.typ, key.id)
		if err == nil && v == nil {
			err = fmt.Errorf("%s: the store answered nothing", key.typ)
		}
		return v, err
	default:
		v, err := c.src.Space(ctx, key.id)
		if err == nil && v == nil {
			err = errors.New("space: the store answered nothing")
		}
		return v, err
	}
}

// refresh reloads key in the background unless a reload is under way.
func (c *entityCache) refresh(ctx context.Context, key entityKey) {
	// Every request for the entry asks until the reload has run (under
	// load its goroutine may wait for a while): those find it under way
	// without copying the key.
	if _, busy := c.refreshing.Load(key); busy {
		return
	}
	key = key.owned()
	if _, busy := c.refreshing.LoadOrStore(key, struct{}{}); busy {
		return
	}
	ctx = context.WithoutCancel(ctx)
	go func() {
		defer c.refreshing.Delete(key)
		gen, at := c.gen.Load(), time.Now()
		v, err := c.load(ctx, key)
		if err != nil || c.gen.Load() != gen {
			return // the entry expires as it would have
		}
		c.cache.Add(key, entry{v: v, at: at})
	}()
}

// Cache keys: one namespace per kind of value, so a space cached as a
// resource (*Resource) never meets the same space cached as an app's space
// (*Related).
// A struct, not a joined string: looking an entity up allocates nothing.
type entityKey struct {
	kind    byte // 's' subject, 'r' resource, 'p' related space
	typ, id string
}

// owned returns key with strings of its own. Callers' ids may alias memory
// that is reused once their request ends (Fiber's zero-copy Params and
// Query): a key kept in the cache, or used by a background reload, must not
// change under it — a reused buffer once turned a cached key for bob's
// user record into carol's id, and bob was allowed to read carol's record
// as "himself".
func (k entityKey) owned() entityKey {
	return entityKey{kind: k.kind, typ: strings.Clone(k.typ), id: strings.Clone(k.id)}
}

func subjectKey(id string) entityKey       { return entityKey{kind: 's', id: id} }
func resourceKey(typ, id string) entityKey { return entityKey{kind: 'r', typ: typ, id: id} }
func relatedKey(id string) entityKey       { return entityKey{kind: 'p', id: id} }

func (c *entityCache) subject(ctx context.Context, id string) (*Subject, error) {
	return cached[Subject](ctx, c, subjectKey(id))
}

func (c *entityCache) resource(ctx context.Context, typ, id string) (*Resource, error) {
	return cached[Resource](ctx, c, resourceKey(typ, id))
}

func (c *entityCache) space(ctx context.Context, id string) (*Related, error) {
	return cached[Related](ctx, c, relatedKey(id))
}

func (c *entityCache) purge() {
	if c.cache == nil {
		return
	}
	c.gen.Add(1)
	c.cache.Purge()
}

func (c *entityCache) invalidate(kind, id string) {
	if c.cache == nil {
		return
	}
	c.gen.Add(1)
	if kind == "subject" {
		c.cache.Remove(subjectKey(id))
		return
	}
	c.cache.Remove(resourceKey(kind, id))
	if kind == "space" {
		// A space's type and owner are also copied into the resources in it.
		c.cache.Purge()
	}
}
