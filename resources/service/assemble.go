package service

import (
	"context"
	"fmt"

	"github.com/gofiber/fiber/v3/middleware/adaptor"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/rulekeeper/rulekeeper/authz"
	"github.com/rulekeeper/rulekeeper/idp"
	"github.com/rulekeeper/rulekeeper/policies"
	"github.com/rulekeeper/rulekeeper/resources/apikeys"
	"github.com/rulekeeper/rulekeeper/resources/decisions"
	"github.com/rulekeeper/rulekeeper/resources/demo"
	"github.com/rulekeeper/rulekeeper/resources/entities"
	"github.com/rulekeeper/rulekeeper/resources/guard"
	"github.com/rulekeeper/rulekeeper/resources/identity"
	"github.com/rulekeeper/rulekeeper/resources/server"
	"github.com/rulekeeper/rulekeeper/resources/users"
)

// DevClientID is the audience of dev-mode tokens.
const DevClientID = "rulekeeper"

// DefaultLicenseKey names the assignments made before any license key is
// applied (and the demo tenant's).
const DefaultLicenseKey = "default"

// assemble builds the engine, identity and every route.
func (s *Service) assemble(ctx context.Context) error {
	cfg := s.cfg
	reg := prometheus.NewRegistry()
	src := &entities.Source{Store: s.Store, License: s.licenseOf}
	modules, err := policies.Modules()
	if err != nil {
		return err
	}
	data, err := policies.Data()
	if err != nil {
		return err
	}
	s.Engine, err = authz.New(ctx, authz.Options{
		Modules: modules, Data: data, Entities: src, Registry: reg, Logger: s.logger,
	})
	if err != nil {
		return err
	}
	vocab, err := authz.VocabularyFrom(data)
	if err != nil {
		return err
	}

	issuer, clientID := cfg.IssuerURL, cfg.ClientID
	var dev *idp.DevIssuer
	if cfg.Dev {
		issuer, clientID = s.URL()+"/dev/oidc", DevClientID
		if dev, err = idp.NewDevIssuer(cfg.DataDir, issuer, clientID); err != nil {
			return err
		}
		seeded, err := demo.Seed(ctx, s.Store, idp.DevSubject, DefaultLicenseKey)
		if err != nil {
			return fmt.Errorf("seed the demo tenant: %w", err)
		}
		if seeded {
			s.logger.Info("seeded the demo tenant", "users", len(demo.Users))
		}
		s.logger.Warn("dev mode: the built-in OIDC issuer mints tokens for anybody who asks", "issuer", issuer)
	}
	if issuer == "" {
		return fmt.Errorf("no OIDC issuer: set --oidc-issuer and --oidc-client-id, or use --dev")
	}
	verifier, err := idp.NewVerifier(idp.Config{IssuerURL: issuer, ClientID: clientID, Claims: cfg.Claims})
	if err != nil {
		return err
	}
	auth, err := identity.New(identity.Config{
		Store: s.Store, Verifier: verifier, Logger: s.logger, Invalidate: s.Engine.Invalidate,
	})
	if err != nil {
		return err
	}

	s.app, err = server.New(server.Config{
		Logger:    s.logger,
		Registry:  reg,
		BodyLimit: cfg.BodyLimit,
		Ready: []server.Check{
			{Name: "store", Func: s.Store.Ping},
			{Name: "policies", Func: s.Engine.Ready},
		},
	})
	if err != nil {
		return err
	}
	if dev != nil {
		s.app.All("/dev/oidc/*", adaptor.HTTPHandler(stripPrefix("/dev/oidc", dev.Handler())))
	}
	g := &guard.Guard{Engine: s.Engine}
	(&decisions.Handlers{Engine: s.Engine, Vocab: vocab}).Register(s.app, auth.Middleware())
	api := s.app.Group("/api/v1", auth.Middleware())
	(&users.Handlers{Store: s.Store, Guard: g, Subject: src.SubjectOf, Invalidate: s.Engine.Invalidate}).Register(api)
	(&apikeys.Handlers{Store: s.Store, Guard: g}).Register(api)
	// routes: one line per resource package, below.
	s.app.Use(server.NotFound)
	return nil
}

// licenseOf is the license state of a user under the key in force.
func (s *Service) licenseOf(ctx context.Context, userID string) (authz.License, error) {
	a, err := s.Store.Assignments.Get(ctx, DefaultLicenseKey, userID)
	if err != nil {
		if isNotFound(err) {
			return authz.License{}, nil
		}
		return authz.License{}, err
	}
	return authz.License{Type: a.Type}, nil
}
