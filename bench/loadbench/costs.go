package main

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/rulekeeper/rulekeeper/authz"
	"github.com/rulekeeper/rulekeeper/idp"
	"github.com/rulekeeper/rulekeeper/policies"
	"github.com/rulekeeper/rulekeeper/resources/entities"
	"github.com/rulekeeper/rulekeeper/resources/service"
)

// cost is the measured time of one step of a decision request.
type cost struct {
	Step       string
	Calls      int
	P50, Max   time.Duration
	PerRequest string // how often a /authz/check request pays it
}

// stepCosts times, one call at a time on the prepared tenant, the steps a
// POST /authz/check goes through in rulekeeper — the store reads of the
// API key authentication, the hydration of an uncached subject and
// resource, a rebuild of the license snapshot, an uncached policy
// evaluation — so the report can say where the time goes.
func stepCosts(ctx context.Context, svc *service.Service, w *workload, apiKey string, n int) ([]cost, error) {
	st := svc.Store
	index := entities.NewSpaceIndex(st)
	src := &entities.Source{Store: st, License: svc.Licenses.LicenseOf, Spaces: index}
	admin, err := st.Users.BySubject(ctx, idp.DevSubject("admin"))
	if err != nil {
		return nil, err
	}
	modules, err := policies.Modules()
	if err != nil {
		return nil, err
	}
	data, err := policies.Data()
	if err != nil {
		return nil, err
	}
	eng, err := authz.New(ctx, authz.Options{Modules: modules, Data: data, CacheSize: -1})
	if err != nil {
		return nil, err
	}
	if err := eng.Load(ctx, 1, w.RulesModule); err != nil {
		return nil, err
	}
	hash := idp.HashAPIKeySecret(apiKey)
	subject := func(k int) string { return w.subjects[k%len(w.subjects)].ID }
	steps := []struct {
		name, when string
		f          func(k int) error
	}{
		{"API key: APIKeys.ByHash + Settings.Get + Users.Get", "key cache miss (2 s TTL)", func(int) error {
			if _, err := st.APIKeys.ByHash(ctx, hash); err != nil {
				return err
			}
			if _, err := st.Settings.Get(ctx); err != nil {
				return err
			}
			_, err := st.Users.Get(ctx, admin.ID)
			return err
		}},
		{"subject hydration (entities.Source.Subject, space roles from the index)", "entity cache miss or refresh-ahead (5 s TTL)", func(k int) error {
			_, err := src.Subject(ctx, subject(k))
			return err
		}},
		{"space index rebuild (entities.SpaceIndex)", "only after a write (its revision moved), in the background", func(k int) error {
			index.Invalidate()
			u := w.subjects[k%len(w.subjects)]
			_, err := index.ForMember(ctx, u.ID, u.GroupIDs)
			return err
		}},
		{"license snapshot rebuild (licenses.Service)", "only after a write (its revision moved), in the background", func(k int) error {
			svc.Licenses.Invalidate()
			_, err := svc.Licenses.LicenseOf(ctx, subject(k))
			return err
		}},
		{"app hydration (entities.Source.Resource)", "entity cache miss or refresh-ahead", func(k int) error {
			_, err := src.Resource(ctx, "app", w.appIDs[k%len(w.appIDs)])
			return err
		}},
		{"policy evaluation, uncached (authz.Engine.Evaluate)", "decision cache miss (the cache keys the projected input)", func(k int) error {
			in := &authz.Input{Subject: *w.subjects[k%len(w.subjects)], Action: "read",
				Resource: *w.resources[k%len(w.resources)], Environment: "hub"}
			_, err := eng.Evaluate(ctx, in)
			return err
		}},
	}
	var out []cost
	for _, s := range steps {
		lat := make([]int64, 0, n)
		for k := range n {
			t0 := time.Now()
			if err := s.f(k * 7919); err != nil {
				return nil, fmt.Errorf("%s: %w", s.name, err)
			}
			lat = append(lat, time.Since(t0).Nanoseconds())
		}
		slices.Sort(lat)
		out = append(out, cost{Step: s.name, Calls: n, P50: percentile(lat, 50), Max: time.Duration(lat[len(lat)-1]), PerRequest: s.when})
	}
	svc.Licenses.Invalidate()
	return out, nil
}
