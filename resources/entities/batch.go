package entities

import (
	"context"

	"github.com/rulekeeper/rulekeeper/authz"
	"github.com/rulekeeper/rulekeeper/resources/store"
)

// Subjects loads many users at once (authz.BatchEntities): from the user
// index where it holds them, the others in one query. Unknown ids are
// absent from the answer.
func (s *Source) Subjects(ctx context.Context, ids []string) (map[string]*authz.Subject, error) {
	out := make(map[string]*authz.Subject, len(ids))
	rest := make([]string, 0, len(ids))
	for _, id := range ids {
		if s.Users != nil {
			u, names, ok, err := s.Users.User(ctx, id)
			if err != nil {
				return nil, err
			}
			if ok {
				sub, err := s.subjectOf(ctx, u, names)
				if err != nil {
					return nil, err
				}
				out[id] = sub
				continue
			}
		}
		rest = append(rest, id)
	}
	users, err := s.Store.Users.ByIDs(ctx, rest)
	if err != nil {
		return nil, err
	}
	for i := range users {
		sub, err := s.SubjectOf(ctx, &users[i])
		if err != nil {
			return nil, err
		}
		out[users[i].ID] = sub
	}
	return out, nil
}

// Resources loads many stored resources of type typ at once
// (authz.BatchEntities): one query for all ids (spaces the space index
// holds need none), each then seen as Resource sees it. Unknown ids are
// absent from the answer; a type the store does not keep is
// authz.ErrNotStored.
func (s *Source) Resources(ctx context.Context, typ string, ids []string) (map[string]*authz.Resource, error) {
	out := make(map[string]*authz.Resource, len(ids))
	switch typ {
	case "app":
		return each(ctx, out, ids, s.Store.Apps.ByIDs, func(a *store.App) string { return a.ID }, s.App)
	case "space":
		rest := make([]string, 0, len(ids))
		for _, id := range ids {
			if s.Spaces != nil {
				sp, ok, err := s.Spaces.Space(ctx, id)
				if err != nil {
					return nil, err
				}
				if ok {
					out[id] = SpaceResource(sp)
					continue
				}
			}
			rest = append(rest, id)
		}
		return each(ctx, out, rest, s.Store.Spaces.ByIDs, func(sp *store.Space) string { return sp.ID }, plain(SpaceResource))
	case "user":
		return each(ctx, out, ids, s.Store.Users.ByIDs, func(u *store.User) string { return u.ID }, plain(userResource))
	case "app.object":
		return each(ctx, out, ids, s.Store.Objects.ByIDs, func(o *store.AppObject) string { return o.ID }, s.AppObject)
	case "group":
		return each(ctx, out, ids, s.Store.Groups.ByIDs, func(g *store.Group) string { return g.ID }, plain(groupResource))
	case "schedule":
		return each(ctx, out, ids, s.Store.Schedules.ByIDs, func(sch *store.Schedule) string { return sch.ID }, s.schedule)
	case "webintegration":
		return each(ctx, out, ids, s.Store.WebIntegrations.ByIDs, func(w *store.WebIntegration) string { return w.ID }, plain(webIntegrationResource))
	case "extension", "theme":
		return each(ctx, out, ids, s.bundles(typ).ByIDs, func(b *store.Bundle) string { return b.ID },
			plain(func(b *store.Bundle) *authz.Resource { return bundleResource(typ, b) }))
	}
	if s.Types != nil {
		if _, ok := s.Types.External(typ); ok {
			load := func(ctx context.Context, ids []string) ([]store.ExternalResource, error) {
				return s.Store.ExternalResources.ByIDs(ctx, typ, ids)
			}
			return each(ctx, out, ids, load, func(x *store.ExternalResource) string { return x.ID }, s.externalResource)
		}
	}
	return nil, authz.ErrNotStored
}

// each reads ids with load (one query) and adds each document, seen
// through view, to out under its id.
func each[T any](ctx context.Context, out map[string]*authz.Resource, ids []string,
	load func(context.Context, []string) ([]T, error), id func(*T) string,
	view func(context.Context, *T) (*authz.Resource, error)) (map[string]*authz.Resource, error) {
	docs, err := load(ctx, ids)
	if err != nil {
		return nil, err
	}
	for i := range docs {
		r, err := view(ctx, &docs[i])
		if err != nil {
			return nil, err
		}
		out[id(&docs[i])] = r
	}
	return out, nil
}

func plain[T any](f func(*T) *authz.Resource) func(context.Context, *T) (*authz.Resource, error) {
	return func(_ context.Context, v *T) (*authz.Resource, error) { return f(v), nil }
}
