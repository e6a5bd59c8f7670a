package authz

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/hashicorp/golang-lru/v2/expirable"
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

// hydrate turns a request into a complete input. Stored entities win over
// what the caller says about them; the caller's target space (for a move)
// and properties of unstored types are kept.
func (e *Engine) hydrate(ctx context.Context, req Request) (*Input, error) {
	in := &Input{Subject: req.Subject, Action: req.Action, Resource: req.Resource, Environment: req.Environment}
	if e.entities == nil {
		return in, nil
	}
	if req.Subject.ID == "" {
		return nil, fmt.Errorf("subject: %w: no id", ErrNotFound)
	}
	s, err := e.entities.subject(ctx, req.Subject.ID)
	switch {
	case err == nil:
		in.Subject = *s
	case errors.Is(err, ErrNotFound) && !req.Subject.bare():
		// An unknown subject described in full by a privileged caller.
	default:
		return nil, fmt.Errorf("subject %q: %w", req.Subject.ID, err)
	}
	if req.Resource.ID != "" {
		r, err := e.entities.resource(ctx, req.Resource.Type, req.Resource.ID)
		switch {
		case err == nil:
			in.Resource = *r
			in.Resource.TargetSpaceID = req.Resource.TargetSpaceID
			in.Resource.TargetSpaceType = req.Resource.TargetSpaceType
		case errors.Is(err, ErrNotStored):
		default:
			return nil, fmt.Errorf("%s %q: %w", req.Resource.Type, req.Resource.ID, err)
		}
	}
	r := &in.Resource
	if r.SpaceID != "" && r.Space == nil {
		sp, err := e.entities.space(ctx, r.SpaceID)
		if err != nil {
			return nil, fmt.Errorf("space %q: %w", r.SpaceID, err)
		}
		r.Space, r.SpaceType = sp, sp.Type
	}
	if r.TargetSpaceID != "" && r.TargetSpaceType == "" {
		sp, err := e.entities.space(ctx, r.TargetSpaceID)
		if err != nil {
			return nil, fmt.Errorf("target space %q: %w", r.TargetSpaceID, err)
		}
		r.TargetSpaceType = sp.Type
	}
	return in, nil
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
	if e.entities != nil && e.entities.cache != nil {
		e.entities.cache.Purge()
	}
}

// DefaultEntityTTL bounds how long another replica's write can go unseen
// by this replica's hydration (writes through this replica invalidate at
// once).
const DefaultEntityTTL = 5 * time.Second

// entityCache puts a TTL-bounded LRU in front of Entities.
type entityCache struct {
	src     Entities
	cache   *expirable.LRU[string, any]
	metrics *metrics
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
		c.cache = expirable.NewLRU[string, any](50_000, nil, ttl)
	}
	return c
}

func cached[T any](c *entityCache, key string, load func() (*T, error)) (*T, error) {
	if c.cache != nil {
		if v, ok := c.cache.Get(key); ok {
			if c.metrics != nil {
				c.metrics.entityHits.Inc()
			}
			return v.(*T), nil
		}
	}
	if c.metrics != nil {
		c.metrics.entityMisses.Inc()
	}
	v, err := load()
	if err != nil {
		return nil, err
	}
	if c.cache != nil {
		c.cache.Add(key, v)
	}
	return v, nil
}

// Cache keys: one namespace per kind of value, so a space cached as a
// resource (*Resource) never meets the same space cached as an app's space
// (*Related).
func subjectKey(id string) string       { return "s\x00" + id }
func resourceKey(typ, id string) string { return "r\x00" + typ + "\x00" + id }
func relatedKey(id string) string       { return "p\x00" + id }

func (c *entityCache) subject(ctx context.Context, id string) (*Subject, error) {
	return cached(c, subjectKey(id), func() (*Subject, error) { return c.src.Subject(ctx, id) })
}

func (c *entityCache) resource(ctx context.Context, typ, id string) (*Resource, error) {
	return cached(c, resourceKey(typ, id), func() (*Resource, error) { return c.src.Resource(ctx, typ, id) })
}

func (c *entityCache) space(ctx context.Context, id string) (*Related, error) {
	return cached(c, relatedKey(id), func() (*Related, error) { return c.src.Space(ctx, id) })
}

func (c *entityCache) invalidate(kind, id string) {
	if c.cache == nil {
		return
	}
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
