package main

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/rulekeeper/rulekeeper/resources/service"
)

var serveCmd = &command{name: "serve", short: "run the service",
	args:    "[flags]",
	summary: "Run the service: the REST API, the decision endpoints and the console.\nWithout --mongo-uri it starts an embedded database (FerretDB on SQLite) in --data-dir.",
	example: "rulekeeper serve --dev                      # dev OIDC issuer and demo tenant on 127.0.0.1:8080\n" +
		"rulekeeper serve --mongo-uri mongodb://db:27017 --oidc-issuer https://idp.example.com --oidc-client-id rulekeeper",
	run: serve}

func serve(ctx context.Context, cmd *command, std *stdio, args []string) error {
	stdout, stderr := std.out, std.err
	var cfg service.Config
	var level string
	fs := newFlags("serve", stderr)
	fs.str(&cfg.Addr, "addr", "127.0.0.1:8080", "listen address")
	fs.str(&cfg.DataDir, "data-dir", "./.data", "directory of the embedded database and dev keys")
	fs.str(&cfg.MongoURI, "mongo-uri", "", "MongoDB URI; empty starts the embedded FerretDB")
	fs.str(&cfg.MongoDB, "mongo-db", "rulekeeper", "database name")
	fs.str(&level, "log-level", "info", "debug, info, warn or error")
	fs.boolean(&cfg.Dev, "dev", false, "dev mode: built-in OIDC issuer and demo tenant")
	fs.boolean(&cfg.AllowRemoteDev, "dev-allow-remote", false, "let dev mode listen on a non-loopback address")
	fs.integer(&cfg.BodyLimit, "body-limit", 1<<20, "largest request body in bytes")
	fs.boolean(&cfg.NoDecisionCache, "no-decision-cache", false, "evaluate every decision (for benchmarks)")
	fs.str(&cfg.IssuerURL, "oidc-issuer", "", "OIDC issuer URL (discovery at <issuer>/.well-known/openid-configuration)")
	fs.str(&cfg.ClientID, "oidc-client-id", "", "OIDC client id: the audience tokens must carry")
	fs.str(&cfg.Claims.Subject, "claim-subject", "sub", "token claim holding the user's stable id")
	fs.str(&cfg.Claims.Name, "claim-name", "name", "token claim holding the display name")
	fs.str(&cfg.Claims.Email, "claim-email", "email", "token claim holding the email address")
	fs.str(&cfg.Claims.Groups, "claim-groups", "groups", "token claim holding the group names")
	fs.str(&cfg.LicensePublicKey, "license-public-key", "", "Ed25519 public key (base64) that verifies license keys; dev mode defaults to the dev key")
	fs.str(&cfg.Claims.Roles, "claim-roles", "", "token claim holding roles (empty: roles are managed in rulekeeper)")
	if pos, err := cmd.parse(fs, std, args); err != nil {
		return err
	} else if len(pos) > 0 {
		return cmd.usageError("unexpected argument %q", pos[0])
	}
	var lvl slog.Level
	if err := lvl.UnmarshalText([]byte(level)); err != nil {
		return cmd.usageError("--log-level %q: want debug, info, warn or error", level)
	}
	if cfg.BodyLimit <= 0 {
		return cmd.usageError("--body-limit must be a positive number of bytes")
	}
	cfg.Version = version
	cfg.Logger = slog.New(slog.NewJSONHandler(stdout, &slog.HandlerOptions{Level: lvl}))

	svc, err := service.Start(ctx, cfg)
	if err != nil {
		return err
	}
	fmt.Fprintf(stderr, "\nrulekeeper is listening on %s\n  database: %s\n", svc.URL(), svc.Database)
	if cfg.Dev {
		fmt.Fprintf(stderr, "  dev mode: get a token with\n    T=$(bin/rulekeeper token --server %s --user alice)\n    curl -H \"Authorization: Bearer $T\" %s/api/v1/users/me\n", svc.URL(), svc.URL())
	}
	fmt.Fprintf(stderr, "  health: curl %s/readyz   metrics: curl %s/metrics\n  stop: Ctrl-C\n\n", svc.URL(), svc.URL())

	<-ctx.Done()
	fmt.Fprintln(stderr, "rulekeeper: shutting down")
	shutdownCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 4*time.Second)
	defer cancel()
	return svc.Shutdown(shutdownCtx)
}
