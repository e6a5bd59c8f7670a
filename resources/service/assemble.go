package service

import (
	"cmp"
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/gofiber/fiber/v3"
	"github.com/gofiber/fiber/v3/middleware/adaptor"
	"github.com/gofiber/fiber/v3/middleware/compress"
	"github.com/gofiber/fiber/v3/middleware/static"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/rulekeeper/rulekeeper/authz"
	"github.com/rulekeeper/rulekeeper/authz/rules"
	"github.com/rulekeeper/rulekeeper/idp"
	"github.com/rulekeeper/rulekeeper/policies"
	"github.com/rulekeeper/rulekeeper/resources/analysis"
	"github.com/rulekeeper/rulekeeper/resources/apierror"
	"github.com/rulekeeper/rulekeeper/resources/apikeys"
	"github.com/rulekeeper/rulekeeper/resources/apps"
	"github.com/rulekeeper/rulekeeper/resources/bundles"
	"github.com/rulekeeper/rulekeeper/resources/decisionlog"
	"github.com/rulekeeper/rulekeeper/resources/decisions"
	"github.com/rulekeeper/rulekeeper/resources/demo"
	"github.com/rulekeeper/rulekeeper/resources/entities"
	"github.com/rulekeeper/rulekeeper/resources/events"
	"github.com/rulekeeper/rulekeeper/resources/guard"
	"github.com/rulekeeper/rulekeeper/resources/idempotency"
	"github.com/rulekeeper/rulekeeper/resources/identity"
	"github.com/rulekeeper/rulekeeper/resources/licenses"
	"github.com/rulekeeper/rulekeeper/resources/openapi"
	"github.com/rulekeeper/rulekeeper/resources/pushdown"
	"github.com/rulekeeper/rulekeeper/resources/registry"
	"github.com/rulekeeper/rulekeeper/resources/schedules"
	"github.com/rulekeeper/rulekeeper/resources/scim"
	"github.com/rulekeeper/rulekeeper/resources/secrules"
	"github.com/rulekeeper/rulekeeper/resources/server"
	"github.com/rulekeeper/rulekeeper/resources/settings"
	"github.com/rulekeeper/rulekeeper/resources/spaces"
	"github.com/rulekeeper/rulekeeper/resources/store"
	"github.com/rulekeeper/rulekeeper/resources/users"
	"github.com/rulekeeper/rulekeeper/resources/webintegrations"
	"github.com/rulekeeper/rulekeeper/web"
)

// DevClientID is the audience of dev-mode tokens.
const DevClientID = "rulekeeper"

// assemble builds the engine, identity and every route.
func (s *Service) assemble(ctx context.Context) error {
	cfg := s.cfg
	reg := prometheus.NewRegistry()
	pub, err := s.licensePublicKey()
	if err != nil {
		return err
	}
	s.Licenses = licenses.New(s.Store, pub)
	spaceIndex := entities.NewSpaceIndex(s.Store)
	userIndex := entities.NewUserIndex(s.Store)
	s.Licenses.SharedSpaces = spaceIndex.SharedCount
	src := &entities.Source{Store: s.Store, License: s.Licenses.LicenseOf, Spaces: spaceIndex, Users: userIndex}
	// Space writes change subjects' roles: drop the index and every cached
	// subject before answering.
	spacesChanged := func() { spaceIndex.Invalidate(); s.Engine.InvalidateAll() }
	// The snapshots are built once and then follow the change log: their
	// build counters show when they rebuilt, the follower what it applied.
	reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "rulekeeper_changes_applied_sequence",
		Help: "The change log sequence this replica's snapshots have applied.",
	}, func() float64 { return float64(s.Store.Follower.Applied()) }))
	for name, builds := range map[string]func() int64{
		"spaces": spaceIndex.Builds, "users": userIndex.Builds, "licenses": s.Licenses.Rebuilds,
	} {
		reg.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name:        "rulekeeper_snapshot_builds_total",
			Help:        "Rebuilds of an in-memory snapshot of the store (space index, user index, license state).",
			ConstLabels: prometheus.Labels{"snapshot": name},
		}, func() float64 { return float64(builds()) }))
	}
	modules, err := policies.Modules()
	if err != nil {
		return err
	}
	data, err := policies.Data()
	if err != nil {
		return err
	}
	// The resource type registry: the built-in types and the external ones,
	// read from the store by the rules manager (below) at every revision.
	vocab, err := authz.VocabularyFrom(data)
	if err != nil {
		return err
	}
	types := authz.NewTypes(vocab, rules.DefaultVocabulary())
	s.Types = types
	src.Types = types
	cacheSize := 0
	if s.cfg.NoDecisionCache {
		cacheSize = -1
	}
	var decisionLog authz.DecisionLogger
	if s.DecisionLog, err = s.decisionLog(ctx, reg); err != nil {
		return err
	} else if s.DecisionLog != nil {
		decisionLog = s.DecisionLog
	}
	// The snapshots behind the entities answer from data at most half the
	// staleness bound old; the cache keeps them a quarter more (and another
	// replica's change shows up within about that).
	entityTTL := cfg.StalenessBound / 4
	if s.cfg.NoEntityCache {
		entityTTL = -1
	}
	s.Engine, err = authz.New(ctx, authz.Options{
		Modules: modules, Data: data, Entities: src, Registry: reg, Logger: s.logger, CacheSize: cacheSize,
		DecisionLog: decisionLog,
		EntityTTL:   entityTTL,
		Types:       types,
		// The rules in force follow the change log too: a decision waits
		// for it (or fails) past the staleness bound, whatever it reads.
		Fresh:        s.Store.Follower.Sync,
		CompileCache: cfg.CompileCache,
	})
	if err != nil {
		return err
	}
	s.Licenses.Changed = s.Engine.InvalidateAll
	// Security rules: install the defaults once, load the stored set before
	// serving, then follow the change log (and poll the revision, below).
	ruleVocab := types.RulesVocabulary()
	s.Rules, err = secrules.NewManager(s.Store, s.Engine, ruleVocab, s.logger, cfg.RulesPoll, reg)
	if err != nil {
		return err
	}
	s.Rules.Types = types
	planner := authz.NewPlanner(s.Engine, ruleVocab)
	s.Rules.Planner = planner
	if _, err := s.Rules.InstallDefaults(ctx); err != nil {
		return fmt.Errorf("install the default rules: %w", err)
	}
	// The change log's follower starts first: every rules change after
	// the set loaded here is then one it delivers.
	if err := s.Store.Follower.CatchUp(ctx); err != nil {
		return fmt.Errorf("read the change log: %w", err)
	}
	if err := s.Rules.Sync(ctx); err != nil {
		s.logger.Error("the stored rules do not compile; serving without them", "error", err.Error())
	}

	issuer, clientID := cfg.IssuerURL, cfg.ClientID
	var dev *idp.DevIssuer
	if cfg.Dev {
		issuer, clientID = s.URL()+"/dev/oidc", DevClientID
		if dev, err = idp.NewDevIssuer(cfg.DataDir, issuer, clientID); err != nil {
			return err
		}
		names := make([]string, 0, len(demo.Users))
		for _, u := range demo.Users {
			names = append(names, u.Name)
		}
		dev.ListUsers(names...)
		keyID, err := s.devLicense(ctx)
		if err != nil {
			return err
		}
		seeded, err := demo.Seed(ctx, s.Store, idp.DevSubject, keyID)
		if err != nil {
			return fmt.Errorf("seed the demo tenant: %w", err)
		}
		if seeded {
			spaceIndex.Invalidate()
			userIndex.Invalidate()
			s.logger.Info("seeded the demo tenant", "users", len(demo.Users))
		}
		s.logger.Warn("dev mode: the built-in OIDC issuer mints tokens for anybody who asks", "issuer", issuer)
	}
	if issuer == "" {
		return fmt.Errorf("no OIDC issuer: set --oidc-issuer and --oidc-client-id, or use --dev")
	}
	verifier, err := idp.NewVerifier(idp.Config{IssuerURL: issuer, ClientID: clientID, Claims: cfg.Claims,
		Audiences: cfg.Audiences, AuthorizedParties: cfg.AuthorizedParties,
		IntrospectionClientID: cfg.IntrospectionClientID, IntrospectionClientSecret: cfg.IntrospectionClientSecret,
		NoUserinfo: cfg.NoUserinfo, Logger: s.logger})
	if err != nil {
		return err
	}
	if err := s.warnMisconfigured(ctx, pub); err != nil {
		return err
	}
	requestHooks := []identity.RequestHook{s.Licenses.OnRequest}
	if s.DecisionLog != nil {
		requestHooks = append(requestHooks, decisionlog.OnRequest)
	}
	auth, err := identity.New(identity.Config{
		RoleMap: cfg.RoleMap, BootstrapAdmins: cfg.BootstrapAdmins, BootstrapFirstLogin: cfg.BootstrapFirstLogin,
		Store: s.Store, Verifier: verifier, Logger: s.logger, UsersByEmail: userIndex.ByEmail, UserByID: userIndex.ByID, Invalidate: func(kind, id string) {
			userIndex.Invalidate() // a login may change the user and create groups
			s.Engine.Invalidate(kind, id)
		},
		OnLogin:   []identity.LoginHook{s.Licenses.OnLogin},
		OnRequest: requestHooks,
	})
	if err != nil {
		return err
	}

	s.app, err = server.New(server.Config{
		Logger:          s.logger,
		Registry:        reg,
		BodyLimit:       cfg.BodyLimit,
		BulkBodyLimit:   cfg.BulkBodyLimit,
		ReadBufferSize:  cfg.ReadBufferSize,
		DecisionTimeout: cfg.DecisionTimeout,
		WriteTimeout:    cfg.WriteTimeout,
		Ready: []server.Check{
			{Name: "store", Func: s.Store.Ping},
			{Name: "policies", Func: s.Engine.Ready},
		},
		ReadyInfo: map[string]func() any{"issuer": func() any { return verifier.State() }},
	})
	if err != nil {
		return err
	}
	s.app.Use(func(c fiber.Ctx) error {
		s.inflight.Add(1)
		defer s.inflight.Add(-1)
		return c.Next()
	})
	if s.DecisionLog != nil {
		s.app.Use(decisionlog.Middleware())
	}
	// CORS for web integrations, before authentication: preflights carry no credentials.
	webIntegrations := webintegrations.NewCache(s.Store, webintegrations.MaxTTL)
	s.app.Use(webintegrations.CORS(webIntegrations, s.logger))
	if dev != nil {
		s.app.All("/dev/oidc/*", adaptor.HTTPHandler(stripPrefix("/dev/oidc", dev.Handler())))
	}
	g := &guard.Guard{Engine: s.Engine, Planner: planner}
	lists, err := pushdown.NewMetrics(reg)
	if err != nil {
		return err
	}
	var decider decisions.Decider = s.Engine
	if cfg.CheckDecider != nil {
		decider = cfg.CheckDecider
	}
	(&decisions.Handlers{Engine: decider, Vocab: types, Search: &analysis.Loader{Store: s.Store, Source: src}, Planner: planner,
		Subjects: src, PublicURL: cfg.PublicURL, TrustedProxy: cfg.TrustedProxy}).Register(s.app, auth.Middleware())
	// Idempotency-Key on POSTs, scoped to the caller, after authentication.
	api := s.app.Group("/api/v1", auth.Middleware(), idempotency.Middleware(s.Store, func(c fiber.Ctx) string {
		if cl := identity.CallerOf(c); cl != nil && cl.User != nil {
			return cl.User.ID
		}
		return ""
	}, max(cfg.WriteTimeout, server.DefaultWriteTimeout)+time.Second))
	// A user's change also drops the API keys identity remembers for them.
	userChanged := func(kind, id string) {
		userIndex.Invalidate()
		s.Engine.Invalidate(kind, id)
		if kind == "subject" {
			auth.ForgetUser(id)
		}
	}
	provision := &users.Provisioner{Store: s.Store, Invalidate: userChanged, Assign: s.assignLicense}
	(&users.Handlers{Store: s.Store, Guard: g, Subject: src.SubjectOf, Invalidate: userChanged, Provision: provision}).Register(api)
	(&scim.Handlers{Store: s.Store, Guard: g, Provision: provision, Invalidate: userChanged}).Register(s.app.Group("/scim/v2", scim.Errors, auth.Middleware()))
	(&apikeys.Handlers{Store: s.Store, Guard: g, Forget: auth.ForgetKey}).Register(api)
	(&licenses.Handlers{Service: s.Licenses, Store: s.Store, Guard: g}).Register(api)
	// The console signs in against the configured issuer (code + PKCE).
	s.app.Get("/console/config.json", func(c fiber.Ctx) error {
		c.Set(fiber.HeaderCacheControl, "no-store")
		return c.JSON(web.Config{Issuer: issuer, ClientID: clientID, Dev: cfg.Dev})
	})
	s.app.Get("/console/*", compress.New(), static.New("", static.Config{FS: web.Assets()}))
	// The document is built at its first request: building it was a fifth
	// of a service's start-up CPU, and most replicas are never asked.
	apiDoc := sync.OnceValue(func() []byte { return openapi.Document(cmp.Or(cfg.Version, "dev")) })
	s.app.Get("/openapi.json", func(c fiber.Ctx) error {
		c.Set(fiber.HeaderContentType, fiber.MIMEApplicationJSONCharsetUTF8)
		return c.Send(apiDoc())
	})
	s.app.Get("/", func(c fiber.Ctx) error { return c.Redirect().To("/console/") })
	// routes: one line per resource package, below.
	ruleTools := &analysis.Handlers{Store: s.Store, Guard: g, Engine: s.Engine, Loader: &analysis.Loader{Store: s.Store, Source: src}, Types: types}
	ruleTools.Register(api)
	(&bundles.Handlers{Kind: bundles.Extension, Store: s.Store, Guard: g, Invalidate: s.Engine.Invalidate, MaxFileBytes: 250 << 20, Logger: s.logger, Lists: lists, MaxDecisions: cfg.ListMaxDecisions}).Register(api)
	(&bundles.Handlers{Kind: bundles.Theme, Store: s.Store, Guard: g, Invalidate: s.Engine.Invalidate, MaxFileBytes: 250 << 20, Logger: s.logger, Lists: lists, MaxDecisions: cfg.ListMaxDecisions}).Register(api)
	(&spaces.Handlers{Store: s.Store, Guard: g, Invalidate: spacesChanged, SharedSpaceQuota: s.Licenses.SharedSpaceAllowed, Lists: lists, MaxDecisions: cfg.ListMaxDecisions, Overview: spaceIndex.Overview}).Register(api)
	(&apps.Handlers{Store: s.Store, Guard: g, Invalidate: spacesChanged, Lists: lists, MaxDecisions: cfg.ListMaxDecisions}).Register(api)
	(&schedules.Handlers{Store: s.Store, Guard: g, Invalidate: s.Engine.Invalidate}).Register(api)
	(&events.Handlers{Store: s.Store, Guard: g}).Register(api)
	(&decisionlog.Handlers{Log: s.storedDecisionLog(), Guard: g}).Register(api)
	(&settings.Handlers{Store: s.Store, Guard: g, Changed: auth.ForgetKeys}).Register(api)
	(&secrules.Handlers{Store: s.Store, Guard: g, Manager: s.Rules, Impact: ruleTools.ImpactOf}).Register(api)
	(&webintegrations.Handlers{Store: s.Store, Guard: g, Cache: webIntegrations, Invalidate: s.Engine.Invalidate}).Register(api)
	(&registry.Handlers{Store: s.Store, Guard: g, Types: types, Manager: s.Rules}).Register(api)
	(&registry.Resources{Store: s.Store, Guard: g, Types: types, Invalidate: s.Engine.Invalidate, Owners: src, Planner: planner, Lists: lists, MaxDecisions: cfg.ListMaxDecisions}).Register(api)
	s.app.Use(server.NotFound)

	// Background jobs (reload schedules, event retention) run until Shutdown.
	jobs, stopJobs := context.WithCancel(context.WithoutCancel(ctx))
	var wg sync.WaitGroup
	wg.Go(func() { (&schedules.Scheduler{Store: s.Store, Decider: s.Engine, Logger: s.logger}).Run(jobs) })
	wg.Go(func() { (&events.Retention{Store: s.Store, Logger: s.logger}).Run(jobs) })
	wg.Go(func() { s.Rules.Run(jobs) })
	// The snapshots follow the change log even while no request comes.
	wg.Go(func() { s.Store.Follower.Run(jobs) })
	s.stopJobs = func() { stopJobs(); wg.Wait() }
	return nil
}

// assignLicense gives a provisioned user a license type, or takes theirs
// away (typ ""); what the user has already is no error.
func (s *Service) assignLicense(ctx context.Context, userID, typ, by string) error {
	var err error
	if typ == "" {
		err = s.Licenses.Remove(ctx, userID, by)
		if errors.Is(err, store.ErrNotFound) {
			return nil
		}
	} else {
		_, err = s.Licenses.Assign(ctx, userID, typ, by)
	}
	var e *apierror.Error
	if errors.As(err, &e) && (e.Code == "already_assigned" || typ == "" && e.Code == "no_license_key") {
		return nil
	}
	return err
}

// warnMisconfigured logs, at start, what will stop an operator later: no
// license public key, and nobody able to become tenant admin.
func (s *Service) warnMisconfigured(ctx context.Context, pub ed25519.PublicKey) error {
	if len(pub) == 0 {
		s.logger.Warn("no license public key (--license-public-key): license keys cannot be applied and no user gets a license; make a pair with `rulekeeper license keygen`")
	}
	if s.cfg.Dev || len(s.cfg.BootstrapAdmins) > 0 || s.cfg.BootstrapFirstLogin {
		return nil
	}
	n, err := s.Store.Users.Count(ctx, store.UserFilter{Role: identity.RoleTenantAdmin})
	if err != nil {
		return err
	}
	if n == 0 {
		s.logger.Warn("no TenantAdmin exists and none is named: start with --bootstrap-admin <subject or email> (or --bootstrap-first-login)")
	}
	return nil
}

// licensePublicKey is the configured key, or the dev key in dev mode.
func (s *Service) licensePublicKey() (ed25519.PublicKey, error) {
	if s.cfg.LicensePublicKey != "" {
		return licenses.ParsePublicKey(s.cfg.LicensePublicKey)
	}
	if s.cfg.Dev {
		pub, _ := licenses.DevKeyPair()
		return pub, nil
	}
	return nil, nil // no key can be verified: licenses are refused until one is configured
}

// devLicense applies the dev license key on first start (dev mode only)
// and returns the id of the key in force. With a --license-public-key of
// its own (trying a production key pair in dev mode) the dev key is not
// accepted: the demo tenant starts without a license, which the operator
// applies, instead of the server not starting.
func (s *Service) devLicense(ctx context.Context) (string, error) {
	if id, err := s.Licenses.KeyID(ctx); err != nil || id != "" {
		return id, err
	}
	_, priv := licenses.DevKeyPair()
	raw, err := licenses.Sign(priv, licenses.DevTerms(time.Now()))
	if err != nil {
		return "", err
	}
	if pub, err := s.licensePublicKey(); err == nil && s.cfg.LicensePublicKey != "" {
		if _, err := licenses.Verify(pub, raw, time.Now()); errors.Is(err, licenses.ErrBadSignature) {
			s.logger.Warn("dev mode with --license-public-key: the demo tenant has no license (the dev license key is not signed by that key); apply yours with PUT /api/v1/licenses/key")
			return "", nil
		}
	}
	t, err := s.Licenses.ApplyKey(ctx, raw, "")
	if err != nil {
		return "", fmt.Errorf("apply the dev license: %w", err)
	}
	return t.KeyID, nil
}
