package analysis

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/rulekeeper/rulekeeper/authz"
	"github.com/rulekeeper/rulekeeper/resources/entities"
	"github.com/rulekeeper/rulekeeper/resources/pushdown"
	"github.com/rulekeeper/rulekeeper/resources/store"
	"go.mongodb.org/mongo-driver/v2/bson"
)

// storedTypes are the resource types the loader reads from the store.
var storedTypes = []string{"app", "app.object", "extension", "group", "schedule", "space", "theme", "user", "webintegration"}

// StoredTypes lists the resource types an analysis or a search can load.
func StoredTypes() []string { return slices.Clone(storedTypes) }

// batch is how many documents one store round trip reads.
const batch = store.MaxPageSize

// Loader reads subjects and resources in bulk and hydrates them as the
// engine would (resources/entities), with one query per batch of
// documents instead of one per resource: the spaces and apps resources
// refer to are read once per call and remembered for that call only. A
// Loader holds no state and is safe for concurrent use.
type Loader struct {
	Store  *store.Store
	Source *entities.Source
}

// session remembers the spaces and apps read during one request.
type session struct {
	l      *Loader
	spaces map[string]*authz.Related // nil value: not found
	apps   map[string]*store.App
}

func (l *Loader) session() *session {
	return &session{l: l, spaces: map[string]*authz.Related{}, apps: map[string]*store.App{}}
}

func (s *session) space(ctx context.Context, id string) (*authz.Related, error) {
	if sp, ok := s.spaces[id]; ok {
		return sp, nil
	}
	sp, err := s.l.Store.Spaces.Get(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		s.spaces[id] = nil
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	r := &authz.Related{ID: sp.ID, Name: sp.Name, Type: sp.Type, Owner: sp.OwnerID}
	s.spaces[id] = r
	return r, nil
}

// allSpaces reads every space once (cheaper than one by one when many
// apps are loaded).
func (s *session) allSpaces(ctx context.Context) error {
	after := ""
	for {
		sps, err := s.l.Store.Spaces.Scan(ctx, nil, after, batch)
		if err != nil {
			return err
		}
		for i := range sps {
			sp := &sps[i]
			s.spaces[sp.ID] = &authz.Related{ID: sp.ID, Name: sp.Name, Type: sp.Type, Owner: sp.OwnerID}
		}
		if len(sps) < batch {
			return nil
		}
		after = sps[len(sps)-1].ID
	}
}

func (s *session) app(ctx context.Context, id string) (*store.App, error) {
	if a, ok := s.apps[id]; ok {
		return a, nil
	}
	a, err := s.l.Store.Apps.Get(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		s.apps[id] = nil
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	s.apps[id] = a
	return a, nil
}

// appResource is entities.Source.App with the space from the session; nil
// when the app's space is gone (the app is being deleted with it).
func (s *session) appResource(ctx context.Context, a *store.App) (*authz.Resource, error) {
	r := &authz.Resource{Type: "app", ID: a.ID, Name: a.Name, Owner: a.OwnerID, SpaceID: a.SpaceID,
		SectionAccess: a.SectionAccess, Attributes: a.Attributes}
	if len(a.Tags) > 0 {
		attrs := make(map[string][]string, len(a.Attributes)+1)
		for k, v := range a.Attributes {
			attrs[k] = v
		}
		attrs["tags"] = a.Tags
		r.Attributes = attrs
	}
	if a.SpaceID == "" {
		r.SpaceType = store.SpacePersonal
		return r, nil
	}
	sp, err := s.space(ctx, a.SpaceID)
	if err != nil || sp == nil {
		return nil, err
	}
	r.Space, r.SpaceType = sp, sp.Type
	return r, nil
}

// page reads the next batch of resources of typ after the id after and
// hydrates them; it also answers the id to continue from ("" at the end).
func (s *session) page(ctx context.Context, typ string, filter bson.D, after string, limit int) ([]authz.Resource, string, error) {
	st := s.l.Store
	var b resourceBatch
	switch typ {
	case "app":
		b = scanned(st.Apps.Scan(ctx, filter, after, limit)).each(func(a *store.App) (string, *authz.Resource, error) {
			s.apps[a.ID] = a
			r, err := s.appResource(ctx, a)
			return a.ID, r, err
		})
	case "space":
		b = scanned(st.Spaces.Scan(ctx, filter, after, limit)).each(func(sp *store.Space) (string, *authz.Resource, error) {
			return sp.ID, entities.SpaceResource(sp), nil
		})
	case "user":
		b = scanned(st.Users.Scan(ctx, filter, after, limit)).each(func(u *store.User) (string, *authz.Resource, error) {
			return u.ID, &authz.Resource{Type: "user", ID: u.ID, Name: u.Name, Owner: u.ID, Attributes: u.Attributes}, nil
		})
	case "group":
		b = scanned(st.Groups.Scan(ctx, filter, after, limit)).each(func(g *store.Group) (string, *authz.Resource, error) {
			return g.ID, &authz.Resource{Type: "group", ID: g.ID, Name: g.Name}, nil
		})
	case "webintegration":
		b = scanned(st.WebIntegrations.Scan(ctx, filter, after, limit)).each(func(w *store.WebIntegration) (string, *authz.Resource, error) {
			return w.ID, &authz.Resource{Type: "webintegration", ID: w.ID, Name: w.Name}, nil
		})
	case "extension", "theme":
		repo := st.Extensions
		if typ == "theme" {
			repo = st.Themes
		}
		b = scanned(repo.Scan(ctx, filter, after, limit)).each(func(bu *store.Bundle) (string, *authz.Resource, error) {
			r := &authz.Resource{Type: typ, ID: bu.ID, Name: bu.Name, Owner: bu.CreatedBy}
			if len(bu.Tags) > 0 {
				r.Attributes = map[string][]string{"tags": bu.Tags}
			}
			return bu.ID, r, nil
		})
	case "app.object":
		b = scanned(st.Objects.Scan(ctx, filter, after, limit)).each(func(o *store.AppObject) (string, *authz.Resource, error) {
			a, ar, err := s.appOf(ctx, o.AppID)
			if err != nil || ar == nil {
				return o.ID, nil, err // its app is gone or unreadable: left out
			}
			return o.ID, &authz.Resource{
				Type: "app.object", ID: o.ID, Name: o.Name, Owner: o.OwnerID,
				SpaceID: a.SpaceID, SpaceType: ar.SpaceType, Space: ar.Space,
				ObjectType: o.Type, Public: o.Public,
				App: &authz.Related{ID: a.ID, Name: a.Name, Owner: a.OwnerID, SpaceID: a.SpaceID},
			}, nil
		})
	case "schedule":
		b = scanned(st.Schedules.Scan(ctx, filter, after, limit)).each(func(sch *store.Schedule) (string, *authz.Resource, error) {
			a, ar, err := s.appOf(ctx, sch.AppID)
			switch {
			case err != nil:
				return sch.ID, nil, err
			case a == nil:
				return sch.ID, &authz.Resource{Type: "schedule", ID: sch.ID}, nil
			case ar == nil:
				return sch.ID, nil, nil
			}
			return sch.ID, &authz.Resource{
				Type: "schedule", ID: sch.ID, Name: a.Name, Owner: a.OwnerID,
				SpaceID: a.SpaceID, SpaceType: ar.SpaceType, Space: ar.Space,
				App: &authz.Related{ID: a.ID, Name: a.Name, Owner: a.OwnerID, SpaceID: a.SpaceID},
			}, nil
		})
	default:
		if s.l.Source == nil || s.l.Source.Types == nil {
			return nil, "", fmt.Errorf("%s: %w", typ, authz.ErrNotStored)
		}
		if _, ok := s.l.Source.Types.External(typ); !ok {
			return nil, "", fmt.Errorf("%s: %w", typ, authz.ErrNotStored)
		}
		b = scanned(st.ExternalResources.Scan(ctx, typ, filter, after, limit)).each(func(x *store.ExternalResource) (string, *authz.Resource, error) {
			r := entities.ExternalResource(x)
			if x.SpaceID != "" {
				sp, err := s.space(ctx, x.SpaceID)
				if err != nil {
					return x.ID, nil, err
				}
				if sp != nil {
					r.Space, r.SpaceType = sp, sp.Type
				}
			}
			return x.ID, r, nil
		})
	}
	if b.err != nil {
		return nil, "", b.err
	}
	if b.read < limit {
		b.last = ""
	}
	return b.out, b.last, nil
}

// appOf is the app with id and its policy view: a nil app when it is
// gone, a nil view when its space is.
func (s *session) appOf(ctx context.Context, id string) (*store.App, *authz.Resource, error) {
	a, err := s.app(ctx, id)
	if err != nil || a == nil {
		return nil, nil, err
	}
	ar, err := s.appResource(ctx, a)
	return a, ar, err
}

// docBatch is one batch of documents as a Scan answered it.
type docBatch[T any] struct {
	docs []T
	err  error
}

func scanned[T any](docs []T, err error) docBatch[T] { return docBatch[T]{docs, err} }

// resourceBatch is a batch converted: the resources, the last _id read
// and how many documents were read.
type resourceBatch struct {
	out  []authz.Resource
	last string
	read int
	err  error
}

// each converts every document with view, which answers its _id and its
// resource (nil: left out).
func (b docBatch[T]) each(view func(*T) (string, *authz.Resource, error)) resourceBatch {
	rb := resourceBatch{err: b.err, read: len(b.docs)}
	for i := range b.docs {
		if rb.err != nil {
			break
		}
		id, r, err := view(&b.docs[i])
		rb.last, rb.err = id, err
		if r != nil && err == nil {
			rb.out = append(rb.out, *r)
		}
	}
	return rb
}

// Resources loads every stored resource of the given types that keep
// says to keep (nil: all).
func (l *Loader) Resources(ctx context.Context, types []string, keep func(typ, id string) bool) ([]authz.Resource, error) {
	s := l.session()
	if slices.ContainsFunc(types, func(t string) bool { return t == "app" || t == "app.object" || t == "schedule" }) {
		if err := s.allSpaces(ctx); err != nil {
			return nil, err
		}
	}
	var out []authz.Resource
	for _, typ := range types {
		after := ""
		for {
			rs, next, err := s.page(ctx, typ, nil, after, batch)
			if err != nil {
				return nil, err
			}
			for _, r := range rs {
				if keep == nil || keep(r.Type, r.ID) {
					out = append(out, r)
				}
			}
			if next == "" {
				break
			}
			after = next
		}
	}
	return out, nil
}

// ResourcePage is one batch of resources of typ after the id after, in id
// order, hydrated; next is "" after the last. For types the store does not
// keep it answers authz.ErrNotStored.
func (l *Loader) ResourcePage(ctx context.Context, typ, after string, limit int) (rs []authz.Resource, next string, err error) {
	if limit <= 0 || limit > batch {
		limit = batch
	}
	return l.session().page(ctx, typ, nil, after, limit)
}

// Filtered is ResourcePage narrowed by a plan (authz.Planner): the
// database returns only what the plan's translation selects. exact says
// the translation was exact, so every resource answered is selected by
// plan; otherwise they are a superset, to be decided one by one.
func (l *Loader) Filtered(ctx context.Context, typ string, plan *authz.Filter, after string, limit int) (rs []authz.Resource, next string, exact bool, err error) {
	if limit <= 0 || limit > batch {
		limit = batch
	}
	var filter bson.D
	if fields := fieldsOf(typ); fields != nil {
		if filter, exact, err = pushdown.Translate(plan, fields); err != nil {
			return nil, "", false, err
		}
	}
	rs, next, err = l.session().page(ctx, typ, filter, after, limit)
	return rs, next, exact, err
}

// Subject hydrates the stored user id.
func (l *Loader) Subject(ctx context.Context, id string) (*authz.Subject, error) {
	return l.Source.Subject(ctx, id)
}

// UserBatch is one batch of users after the id after, in id order; next is
// "" after the last.
func (l *Loader) UserBatch(ctx context.Context, after string, limit int) (us []store.User, next string, err error) {
	if limit <= 0 || limit > batch {
		limit = batch
	}
	if us, err = l.Store.Users.Scan(ctx, nil, after, limit); err != nil {
		return nil, "", err
	}
	if len(us) == limit {
		next = us[len(us)-1].ID
	}
	return us, next, nil
}

// GroupBatch is one batch of groups after the id after, in id order.
func (l *Loader) GroupBatch(ctx context.Context, after string, limit int) (gs []store.Group, next string, err error) {
	if limit <= 0 || limit > batch {
		limit = batch
	}
	if gs, err = l.Store.Groups.Scan(ctx, nil, after, limit); err != nil {
		return nil, "", err
	}
	if len(gs) == limit {
		next = gs[len(gs)-1].ID
	}
	return gs, next, nil
}

// Users reads the stored users: those named (ids), the members of the
// named groups, or everybody when both are empty. Unknown ids and groups
// are reported by index through the errors UnknownUser and UnknownGroup.
func (l *Loader) Users(ctx context.Context, ids, groups []string) ([]store.User, error) {
	var out []store.User
	seen := map[string]bool{}
	for i, id := range ids {
		u, err := l.Store.Users.Get(ctx, id)
		if errors.Is(err, store.ErrNotFound) {
			return nil, &UnknownError{Kind: "users", Index: i, Value: id}
		}
		if err != nil {
			return nil, err
		}
		if !seen[u.ID] {
			seen[u.ID] = true
			out = append(out, *u)
		}
	}
	if len(ids) > 0 && len(groups) == 0 {
		return out, nil
	}
	groupIDs := map[string]bool{}
	for i, ref := range groups {
		g, err := l.Store.Groups.Get(ctx, ref)
		if errors.Is(err, store.ErrNotFound) {
			g, err = l.Store.Groups.ByName(ctx, ref)
		}
		if errors.Is(err, store.ErrNotFound) {
			return nil, &UnknownError{Kind: "groups", Index: i, Value: ref}
		}
		if err != nil {
			return nil, err
		}
		groupIDs[g.ID] = true
	}
	after := ""
	for {
		us, err := l.Store.Users.Scan(ctx, nil, after, batch)
		if err != nil {
			return nil, err
		}
		for _, u := range us {
			member := len(groups) == 0 || slices.ContainsFunc(u.GroupIDs, func(g string) bool { return groupIDs[g] })
			if member && !seen[u.ID] {
				seen[u.ID] = true
				out = append(out, u)
			}
		}
		if len(us) < batch {
			break
		}
		after = us[len(us)-1].ID
	}
	return out, nil
}

// Subjects hydrates users once each.
func (l *Loader) Subjects(ctx context.Context, us []store.User) ([]authz.Subject, error) {
	out := make([]authz.Subject, 0, len(us))
	for i := range us {
		s, err := l.Source.SubjectOf(ctx, &us[i])
		if err != nil {
			return nil, fmt.Errorf("hydrate user %q: %w", us[i].ID, err)
		}
		out = append(out, *s)
	}
	return out, nil
}

// UnknownError is a user or group a request names that does not exist.
type UnknownError struct {
	Kind  string // "users" or "groups"
	Index int
	Value string
}

func (e *UnknownError) Error() string {
	return fmt.Sprintf("%s[%d]: %q does not exist", e.Kind, e.Index, e.Value)
}

// fieldsOf maps the policy's view of the resources of typ to their
// collection; nil for the types no plan filters.
func fieldsOf(typ string) pushdown.Fields {
	switch typ {
	case "app":
		return pushdown.AppFields()
	case "space":
		return pushdown.SpaceFields()
	case "extension", "theme":
		return pushdown.BundleFields(typ)
	case "", "app.object", "schedule", "user", "group", "webintegration":
		return nil
	}
	return pushdown.ExternalFields(typ)
}
