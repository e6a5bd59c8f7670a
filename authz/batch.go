package authz

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// BatchEntities is implemented by an Entities that can load many ids of
// one kind in one query. A batch of decisions (Engine.Prefetch) then looks
// each subject id and each resource type's ids up once, instead of once per
// decision: a thousand evaluations naming unknown ids cost one query per
// type, not a thousand.
type BatchEntities interface {
	// Subjects returns the users among ids, by id; unknown ids are absent.
	Subjects(ctx context.Context, ids []string) (map[string]*Subject, error)
	// Resources returns the stored resources of type typ among ids, by id
	// (unknown ids absent), or ErrNotStored for a type the store does not
	// keep. External types are kept: an id of one that is absent is
	// decided as described, as Entities.Resource answers it (ErrNotStored).
	Resources(ctx context.Context, typ string, ids []string) (map[string]*Resource, error)
}

// Batch decides the requests given to Engine.Prefetch from what it loaded
// for them (and from the entity cache, for what the cache already held).
type Batch struct {
	e         *Engine
	err       error // the prefetch failed: every decision fails with it
	subjects  map[string]*Subject
	resources map[entityKey]*Resource
	// missing ids (ErrNotFound) and types not stored (ErrNotStored).
	missing  map[entityKey]bool
	unstored map[string]bool
	lookedUp map[entityKey]bool
}

// Prefetch looks up, in one query per kind and resource type, the
// subjects and resources that reqs name by id and the entity cache does
// not hold; decide the requests with the Batch's Decide. Found entities
// also go to the cache. Without an Entities that implements BatchEntities,
// Decide is the engine's.
func (e *Engine) Prefetch(ctx context.Context, reqs []Request) *Batch {
	b := &Batch{e: e}
	c := e.entities
	if c == nil {
		return b
	}
	src, ok := c.src.(BatchEntities)
	if !ok {
		return b
	}
	b.subjects, b.resources = map[string]*Subject{}, map[entityKey]*Resource{}
	b.missing, b.unstored, b.lookedUp = map[entityKey]bool{}, map[string]bool{}, map[entityKey]bool{}
	var subjects []string
	byType := map[string][]string{}
	for i := range reqs {
		if id := reqs[i].Subject.ID; id != "" {
			k := subjectKey(id)
			if !b.lookedUp[k] && !c.holds(k) {
				b.lookedUp[k.owned()] = true
				subjects = append(subjects, k.owned().id)
			}
		}
		if r := &reqs[i].Resource; r.ID != "" && r.Type != "" {
			k := resourceKey(r.Type, r.ID)
			if !b.lookedUp[k] && !c.holds(k) {
				k = k.owned()
				b.lookedUp[k] = true
				byType[k.typ] = append(byType[k.typ], k.id)
			}
		}
	}
	gen, at := c.gen.Load(), time.Now()
	if len(subjects) > 0 {
		found, err := src.Subjects(ctx, subjects)
		if err != nil {
			b.err = fmt.Errorf("subjects: %w", err)
			return b
		}
		for _, id := range subjects {
			if s, ok := found[id]; ok {
				b.subjects[id] = s
				c.put(subjectKey(id), s, gen, at)
			} else {
				b.missing[subjectKey(id)] = true
			}
		}
	}
	for typ, ids := range byType {
		found, err := src.Resources(ctx, typ, ids)
		if errors.Is(err, ErrNotStored) {
			b.unstored[typ] = true
			continue
		}
		if err != nil {
			b.err = fmt.Errorf("%s resources: %w", typ, err)
			return b
		}
		for _, id := range ids {
			k := resourceKey(typ, id)
			if r, ok := found[id]; ok {
				b.resources[k] = r
				c.put(k, r, gen, at)
			} else {
				b.missing[k] = true
			}
		}
	}
	return b
}

// Decide decides req, one of the requests given to Prefetch (another
// request is decided as Engine.Decide would).
func (b *Batch) Decide(ctx context.Context, req Request) (Decision, error) {
	if b.err != nil {
		b.e.failed.Observe(0)
		return Decision{Revision: b.e.Revision()}, b.err
	}
	var in Input
	if err := b.e.hydrateWith(ctx, &req, &in, b); err != nil {
		b.e.failed.Observe(0)
		return Decision{Revision: b.e.Revision()}, err
	}
	return b.e.Evaluate(ctx, &in)
}

// subject and resource answer from the batch what it looked up, and from
// the cache (or the store) the rest.
func (b *Batch) subject(ctx context.Context, id string) (*Subject, error) {
	if b != nil && b.subjects != nil {
		if s, ok := b.subjects[id]; ok {
			return s, nil
		}
		if b.missing[subjectKey(id)] {
			return nil, ErrNotFound
		}
	}
	return b.e.entities.subject(ctx, id)
}

func (b *Batch) resource(ctx context.Context, typ, id string) (*Resource, error) {
	if b != nil && b.resources != nil {
		k := resourceKey(typ, id)
		if r, ok := b.resources[k]; ok {
			return r, nil
		}
		if b.missing[k] {
			if b.e.external(typ) {
				// As Entities.Resource answers it: an external resource
				// not stored is decided as described.
				return nil, ErrNotStored
			}
			return nil, ErrNotFound
		}
		if b.unstored[typ] {
			return nil, ErrNotStored
		}
	}
	return b.e.entities.resource(ctx, typ, id)
}

// holds reports whether the cache has a live entry for key.
func (c *entityCache) holds(key entityKey) bool {
	if c.cache == nil {
		return false
	}
	e, ok := c.cache.Peek(key)
	return ok && time.Since(e.at) <= c.ttl
}

// put caches v, loaded at at, unless an invalidation came since gen.
func (c *entityCache) put(key entityKey, v any, gen int64, at time.Time) {
	if c.cache != nil && c.gen.Load() == gen {
		c.cache.Add(key.owned(), entry{v: v, at: at})
	}
}
