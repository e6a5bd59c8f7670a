package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"github.com/rulekeeper/rulekeeper/bench/benchsubjects"
	"io"
	"log/slog"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rulekeeper/rulekeeper/authz"
	"github.com/rulekeeper/rulekeeper/authz/rules"
	"github.com/rulekeeper/rulekeeper/bench/internal/apiclient"
	"github.com/rulekeeper/rulekeeper/bench/opaserver"
	"github.com/rulekeeper/rulekeeper/idp"
	"github.com/rulekeeper/rulekeeper/resources/entities"
	"github.com/rulekeeper/rulekeeper/resources/licenses"
	"github.com/rulekeeper/rulekeeper/resources/service"
	"github.com/rulekeeper/rulekeeper/resources/store"
	"github.com/rulekeeper/rulekeeper/resources/store/embedded"
)

// item is one (action, resource) a subject is asked about.
type item struct {
	Label    string
	Action   []byte // JSON string
	Request  []byte // the resource as rulekeeper's callers send it (by id)
	Hydrated []byte // the resource as the engine hydrates it (for OPA)
}

// workload is everything the load needs: subjects and items, both in the
// form sent to rulekeeper and in the hydrated form sent to OPA.
type workload struct {
	SubjectIDs  [][]byte // JSON strings
	SubjectJSON [][]byte // hydrated subjects (policy input form)
	Items       []item
	Picks       []int // indices into Items, repeated by weight: the stream draws from it
	APIKey      string
	RulesModule string        // the Rego generated from the stored security rules
	Rules       int           // how many stored rules (enabled or not) it was compiled from
	Profile     string        // one line describing the tenant
	Apps        []string      // names of the apps asked about
	Costs       []cost        // sequential cost of the steps of a decision request
	Logins      time.Duration // how long the logins took

	// Hydrated entities, for stepCosts.
	subjects  []*authz.Subject
	resources []*authz.Resource
	appIDs    []string
}

// appActions are asked about every app; opening an app is what callers ask
// most, so it weighs more in the stream.
var appActions = []struct {
	name   string
	weight int
}{{"read", 6}, {"update", 1}, {"delete", 1}, {"export", 1}, {"duplicate", 1}, {"reload", 1}, {"view_data_model", 1}}

// spaceActions are asked about every space: open it, rename it, manage its
// members.
var spaceActions = []string{"read", "update", "manage_members"}

// prepare seeds the tenant in dataDir with an in-process rulekeeper and
// computes the workload; the service is shut down before it returns, so the
// data directory can be served by the child process.
func prepare(ctx context.Context, dataDir string, n int, log *slog.Logger) (w *workload, err error) {
	quiet := slog.New(slog.NewJSONHandler(io.Discard, nil))
	svc, err := service.Start(ctx, service.Config{Embedded: embedded.Starter,
		Addr: "127.0.0.1:0", DataDir: dataDir, Dev: true, BodyLimit: 1 << 20, Logger: quiet,
		// The preparation is not measured: generous database deadlines keep
		// a loaded machine from failing its logins.
		DecisionTimeout: 30 * time.Second, WriteTimeout: 60 * time.Second,
	})
	if err != nil {
		return nil, fmt.Errorf("start rulekeeper in-process: %w", err)
	}
	defer func() {
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		defer cancel()
		if serr := svc.Shutdown(sctx); serr != nil && err == nil {
			err = fmt.Errorf("stop the in-process rulekeeper: %w", serr)
		}
	}()
	c := &client{Base: svc.URL(), HTTP: &http.Client{Timeout: 2 * time.Minute}}
	admin, err := idp.FetchDevToken(ctx, c.Base, "admin", []string{"Admins"}, "")
	if err != nil {
		return nil, err
	}

	// A license key with room for everybody, under the dev key id so that
	// the demo assignments stay in force.
	_, priv := licenses.DevKeyPair()
	terms := licenses.DevTerms(time.Now())
	terms.Professional, terms.Analyzer = 2*n, 2*n
	terms.CapacityMinutes = 100 * n
	raw, err := licenses.Sign(priv, terms)
	if err != nil {
		return nil, err
	}
	if err := c.Do(ctx, admin, "PUT", "/api/v1/licenses/key", map[string]string{"key": raw}, nil, http.StatusOK); err != nil {
		return nil, fmt.Errorf("apply the bench license key: %w", err)
	}

	// Logins: each user's first request with a token creates the user.
	start := time.Now()
	ids := make([]string, n)
	var done atomic.Int64
	err = parallel(ctx, 8, n, func(i int) error {
		tok, err := idp.FetchDevToken(ctx, c.Base, benchsubjects.Name(i), nonNil(benchsubjects.Groups(i)), "")
		if err != nil {
			return err
		}
		var me struct {
			ID string `json:"id"`
		}
		if err := c.Do(ctx, tok, "GET", "/api/v1/users/me", nil, &me, http.StatusOK); err != nil {
			return fmt.Errorf("login of %s: %w", benchsubjects.Name(i), err)
		}
		ids[i] = me.ID
		if k := done.Add(1); k%100 == 0 {
			log.Info("logins", "done", k, "of", n, "elapsed", time.Since(start).Round(time.Millisecond))
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	logins := time.Since(start)
	log.Info("logged in the bench users", "users", n, "took", logins.Round(time.Millisecond))

	// Licenses through the store (the API's assignment rebuilds the license
	// state per call, minutes for a thousand users), statuses through the
	// API as the tenant admin.
	start = time.Now()
	st := svc.Store
	keyID := terms.KeyID
	for i := range n {
		switch lic := benchsubjects.License(i); lic {
		case "":
		case "none":
			if err := st.Assignments.Remove(ctx, keyID, ids[i]); err != nil && !errors.Is(err, store.ErrNotFound) {
				return nil, err
			}
		default:
			_, err := st.Assignments.SetType(ctx, keyID, ids[i], lic)
			if errors.Is(err, store.ErrNotFound) {
				_, err = st.Assignments.Add(ctx, keyID, ids[i], lic)
			}
			if err != nil {
				return nil, err
			}
		}
	}
	svc.Licenses.Invalidate()
	err = parallel(ctx, 4, n, func(i int) error {
		if !benchsubjects.Disabled(i) {
			return nil
		}
		if err := c.Do(ctx, admin, "PATCH", "/api/v1/users/"+ids[i], map[string]string{"status": "disabled"}, nil, http.StatusOK); err != nil {
			return fmt.Errorf("disable %s: %w", benchsubjects.Name(i), err)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	log.Info("assigned licenses and disabled users", "took", time.Since(start).Round(time.Millisecond))

	// Direct memberships and a few apps owned by bench users, through the
	// store (one write per space).
	spaces, _, err := st.Spaces.List(ctx, store.SpaceFilter{}, store.Page{Limit: 1000})
	if err != nil {
		return nil, err
	}
	byName := map[string]*store.Space{}
	for i := range spaces {
		byName[spaces[i].Name] = &spaces[i]
	}
	for _, name := range []string{"Sales", "Finance", "Company Reports"} {
		if byName[name] == nil {
			return nil, fmt.Errorf("the demo space %q is missing", name)
		}
	}
	added := map[string][]store.Member{}
	for i := range n {
		if sp, role := benchsubjects.Membership(i); sp != "" {
			added[sp] = append(added[sp], store.Member{Type: "user", ID: ids[i], Roles: []string{role}})
		}
	}
	for name, ms := range added {
		sp := byName[name]
		members := append(append([]store.Member{}, sp.Members...), ms...)
		if _, err := st.Spaces.Update(ctx, sp.ID, store.SpaceChange{Version: sp.Version, Members: members}); err != nil {
			return nil, fmt.Errorf("add the bench members of %s: %w", name, err)
		}
	}
	own := func(i int) string { return ids[min(i, n-1)] }
	for _, a := range []*store.App{
		{Name: "Bench pipeline", SpaceID: byName["Sales"].ID, OwnerID: own(10), Tags: []string{"bench"}},
		{Name: "Bench KPIs", SpaceID: byName["Company Reports"].ID, OwnerID: own(3)},
		{Name: "Bench notes", OwnerID: own(1)},
	} {
		if err := st.Apps.Create(ctx, a); err != nil {
			return nil, err
		}
	}

	// The caller: an API key of the tenant admin (TenantAdmin may ask
	// about anybody).
	var key struct {
		Secret string `json:"secret"`
	}
	if err := c.Do(ctx, admin, "POST", "/api/v1/api-keys", map[string]string{"description": "loadbench"}, &key, http.StatusCreated); err != nil {
		return nil, fmt.Errorf("create the API key: %w", err)
	}

	w, err = buildWorkload(ctx, st, svc.Licenses.LicenseOf, ids)
	if err != nil {
		return nil, err
	}
	w.APIKey, w.Logins = key.Secret, logins
	if w.Costs, err = stepCosts(ctx, svc, w, key.Secret, 30); err != nil {
		return nil, fmt.Errorf("time the steps of a decision: %w", err)
	}
	return w, nil
}

// buildWorkload lists the items and hydrates subjects and resources with
// the same entity source the service's engine uses.
func buildWorkload(ctx context.Context, st *store.Store, lic entities.LicenseFunc, ids []string) (*workload, error) {
	src := &entities.Source{Store: st, License: lic}
	w := &workload{}
	for _, id := range ids {
		s, err := src.Subject(ctx, id)
		if err != nil {
			return nil, fmt.Errorf("hydrate subject %s: %w", id, err)
		}
		b, err := opaserver.SubjectJSON(s)
		if err != nil {
			return nil, err
		}
		w.subjects = append(w.subjects, s)
		w.SubjectIDs = append(w.SubjectIDs, jsonString(id))
		w.SubjectJSON = append(w.SubjectJSON, b)
	}
	apps, _, err := st.Apps.List(ctx, store.AppFilter{}, store.Page{Limit: 1000})
	if err != nil {
		return nil, err
	}
	spaces, _, err := st.Spaces.List(ctx, store.SpaceFilter{}, store.Page{Limit: 1000})
	if err != nil {
		return nil, err
	}
	add := func(label, action string, req authz.Resource, weight int) error {
		r, err := hydrateResource(ctx, src, req)
		if err != nil {
			return fmt.Errorf("hydrate %s: %w", label, err)
		}
		reqJSON, err := json.Marshal(req)
		if err != nil {
			return err
		}
		if req.ID != "" {
			w.resources = append(w.resources, r)
		}
		hyd, err := opaserver.ResourceJSON(r)
		if err != nil {
			return err
		}
		for range weight {
			w.Picks = append(w.Picks, len(w.Items))
		}
		w.Items = append(w.Items, item{Label: action + " " + label, Action: jsonString(action), Request: reqJSON, Hydrated: hyd})
		return nil
	}
	for _, a := range apps {
		w.appIDs = append(w.appIDs, a.ID)
		for _, act := range appActions {
			if err := add("app "+a.Name, act.name, authz.Resource{Type: "app", ID: a.ID}, act.weight); err != nil {
				return nil, err
			}
		}
	}
	for _, sp := range spaces {
		if err := add("new app in "+sp.Name, "create", authz.Resource{Type: "app", SpaceID: sp.ID}, 2); err != nil {
			return nil, err
		}
		// The space itself, asked about beside its apps (the engine's
		// entity cache keeps a space resource and an app's space apart).
		for _, act := range spaceActions {
			if err := add("space "+sp.Name, act, authz.Resource{Type: "space", ID: sp.ID}, 1); err != nil {
				return nil, err
			}
		}
	}
	if w.RulesModule, w.Rules, err = rulesModule(ctx, st); err != nil {
		return nil, err
	}
	names := make([]string, len(apps))
	for i, a := range apps {
		names[i] = a.Name
	}
	w.Apps = names
	w.Profile = fmt.Sprintf("%d subjects, %d apps, %d spaces, %d (action, resource) items: %d distinct decisions; %d security rules",
		len(ids), len(apps), len(spaces), len(w.Items), len(ids)*len(w.Items), w.Rules)
	return w, nil
}

// rulesModule compiles the stored security rules as the service's rule
// manager does (resources/secrules: every stored rule, the default rule
// vocabulary), so the OPA server gets the generated module rulekeeper's
// engine has in force.
func rulesModule(ctx context.Context, st *store.Store) (string, int, error) {
	stored, err := st.Rules.All(ctx)
	if err != nil {
		return "", 0, err
	}
	rs := make([]rules.Rule, 0, len(stored))
	for _, r := range stored {
		rs = append(rs, rules.Rule{ID: r.ID, Name: r.Name, Description: r.Description, ResourceFilter: r.ResourceFilter,
			Condition: r.Condition, Actions: r.Actions, Context: r.Context, Disabled: r.Disabled, Type: r.Type})
	}
	module, diags := rules.CompileModule(rs, rules.DefaultVocabulary())
	if rules.HasErrors(diags) {
		return "", 0, fmt.Errorf("the stored security rules do not compile: %v", diags)
	}
	return module, len(stored), nil
}

// hydrateResource does what the engine's hydration does to a resource
// named by type and id (authz/hydrate.go): stored entities replace the
// caller's description, and a space id brings the space and its type.
func hydrateResource(ctx context.Context, src *entities.Source, req authz.Resource) (*authz.Resource, error) {
	r := req
	if req.ID != "" {
		stored, err := src.Resource(ctx, req.Type, req.ID)
		switch {
		case err == nil:
			r = *stored
			r.TargetSpaceID, r.TargetSpaceType = req.TargetSpaceID, req.TargetSpaceType
		case errors.Is(err, authz.ErrNotStored):
		default:
			return nil, err
		}
	}
	if r.SpaceID != "" && r.Space == nil {
		sp, err := src.Space(ctx, r.SpaceID)
		if err != nil {
			return nil, err
		}
		r.Space, r.SpaceType = sp, sp.Type
	}
	if r.TargetSpaceID != "" && r.TargetSpaceType == "" {
		sp, err := src.Space(ctx, r.TargetSpaceID)
		if err != nil {
			return nil, err
		}
		r.TargetSpaceType = sp.Type
	}
	return &r, nil
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

func jsonString(s string) []byte {
	b, _ := json.Marshal(s)
	return b
}

// parallel runs f(0..n-1) on workers goroutines; the first error stops it.
func parallel(ctx context.Context, workers, n int, f func(i int) error) error {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	next := make(chan int)
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for i := range next {
				if err := f(i); err != nil {
					cancel(err)
				}
			}
		})
	}
loop:
	for i := range n {
		select {
		case next <- i:
		case <-ctx.Done():
			break loop
		}
	}
	close(next)
	wg.Wait()
	if err := context.Cause(ctx); err != nil && !errors.Is(err, context.Canceled) {
		return err
	}
	return ctx.Err()
}

// client calls the rulekeeper API during the preparation.
type client = apiclient.Client

func truncate(s string, n int) string { return apiclient.Truncate(s, n) }
