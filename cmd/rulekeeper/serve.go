package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/rulekeeper/rulekeeper/resources/cpuprofile"
	"github.com/rulekeeper/rulekeeper/resources/decisionlog"
	"github.com/rulekeeper/rulekeeper/resources/decisions"
	"github.com/rulekeeper/rulekeeper/resources/identity"
	"github.com/rulekeeper/rulekeeper/resources/pushdown"
	"github.com/rulekeeper/rulekeeper/resources/server"
	"github.com/rulekeeper/rulekeeper/resources/service"
	"github.com/rulekeeper/rulekeeper/resources/store"
	"github.com/rulekeeper/rulekeeper/resources/store/embedded"
)

var serveCmd = &command{name: "serve", short: "run the service",
	args:    "[flags]",
	summary: "Run the service: the REST API, the decision endpoints and the console.\nWithout --mongo-uri it starts an embedded database (FerretDB on SQLite) in --data-dir.",
	example: "rulekeeper serve --dev                      # dev OIDC issuer and demo tenant on 127.0.0.1:8080\n" +
		"rulekeeper serve --mongo-uri mongodb://db:27017 --oidc-issuer https://idp.example.com --oidc-client-id rulekeeper",
	run: serve}

func serve(ctx context.Context, cmd *command, std *stdio, args []string) error {
	stdout, stderr := std.out, std.err
	cfg := service.Config{Embedded: embedded.Starter}
	var level, roleMap string
	fs := newFlags("serve", stderr)
	fs.str(&cfg.Addr, "addr", "127.0.0.1:8080", "listen address")
	fs.str(&cfg.DataDir, "data-dir", "./.data", "directory of the embedded database and dev keys")
	fs.str(&cfg.MongoURI, "mongo-uri", "", "MongoDB URI; empty starts the embedded FerretDB")
	fs.str(&cfg.MongoDB, "mongo-db", "rulekeeper", "database name")
	fs.str(&level, "log-level", "info", "debug, info, warn or error")
	fs.boolean(&cfg.Dev, "dev", false, "dev mode: built-in OIDC issuer and demo tenant")
	fs.boolean(&cfg.AllowRemoteDev, "dev-allow-remote", false, "let dev mode listen on a non-loopback address")
	fs.integer(&cfg.BodyLimit, "body-limit", 1<<20, "largest request body in bytes")
	fs.integer(&cfg.BulkBodyLimit, "bulk-body-limit", 32<<20, "largest body of a bulk write (rule and user import, :batch) in bytes")
	fs.boolean(&cfg.NoDecisionCache, "no-decision-cache", false, "evaluate every decision (for benchmarks)")
	fs.boolean(&cfg.NoEntityCache, "no-entity-cache", false, "hydrate every decision from the store snapshots, without the entity cache (for benchmarks)")
	fs.str(&cfg.IssuerURL, "oidc-issuer", "", "OIDC issuer URL (discovery at <issuer>/.well-known/openid-configuration)")
	fs.str(&cfg.ClientID, "oidc-client-id", "", "OIDC client id: the audience tokens must carry")
	fs.str(&cfg.Claims.Subject, "claim-subject", "sub", "token claim holding the user's stable id")
	fs.str(&cfg.Claims.Name, "claim-name", "name", "token claim holding the display name")
	fs.str(&cfg.Claims.Email, "claim-email", "email", "token claim holding the email address")
	fs.str(&cfg.Claims.Groups, "claim-groups", "groups", "token claim holding the group names")
	fs.str(&cfg.LicensePublicKey, "license-public-key", "", "Ed25519 public key that verifies license keys: the key itself, base64 or PEM (\"$(cat license-public.pem)\"), as license keygen writes it; dev mode defaults to the dev key")
	fs.str(&cfg.Claims.Roles, "claim-roles", "", "token claim holding roles, applied at every login (empty: roles are managed in rulekeeper only)")
	fs.list(&cfg.Audiences, "oidc-audience", "further accepted token audience, e.g. the API audience of JWT access tokens; repeatable")
	fs.list(&cfg.AuthorizedParties, "oidc-authorized-party", "only accept tokens issued to this client (azp / client_id); repeatable")
	fs.str(&cfg.IntrospectionClientID, "oidc-introspection-client-id", "", "client id for RFC 7662 introspection of opaque access tokens")
	fs.str(&cfg.IntrospectionClientSecret, "oidc-introspection-client-secret", "", "client secret for introspection")
	fs.boolean(&cfg.NoUserinfo, "oidc-no-userinfo", false, "never ask the userinfo endpoint for claims an access token lacks")
	fs.str(&roleMap, "role-map", "", "IdP role to rulekeeper role, e.g. rk-admins=TenantAdmin,devs=Developer")
	fs.list(&cfg.BootstrapAdmins, "bootstrap-admin", "subject or email made TenantAdmin at login; repeatable")
	fs.boolean(&cfg.BootstrapFirstLogin, "bootstrap-first-login", false, "make the first user to log in TenantAdmin when no --bootstrap-admin is given and no TenantAdmin exists")
	fs.integer(&cfg.ReadBufferSize, "read-buffer-size", server.DefaultReadBufferSize, "largest request head (request line and headers, bearer tokens included) in bytes")
	fs.duration(&cfg.StalenessBound, "staleness-bound", store.DefaultStaleness, "a decision never uses data older than this behind the newest write of any replica")
	fs.duration(&cfg.DecisionTimeout, "db-timeout-decision", server.DefaultDecisionTimeout, "deadline of a decision's or read's database work (then 503 database_unavailable)")
	fs.duration(&cfg.WriteTimeout, "db-timeout-write", server.DefaultWriteTimeout, "deadline of a write's database work (then 503 database_unavailable)")
	fs.integer(&cfg.ListMaxDecisions, "list-max-decisions", pushdown.DefaultMaxDecisions, "most items a list page decides one by one when its plan is inexact; past it the page is short and its cursor resumes")
	fs.str(&cfg.PublicURL, "public-url", "", "the URL clients reach this service at, e.g. https://pdp.example.com: the AuthZEN metadata's policy_decision_point (empty: the request's own URL)")
	fs.boolean(&cfg.TrustedProxy, "trusted-proxy", false, "behind a reverse proxy that sets X-Forwarded-Proto and X-Forwarded-Host: honour them when --public-url is not set")
	fs.duration(&cfg.ShutdownDrain, "shutdown-drain", 10*time.Second, "on SIGTERM, how long in-flight requests may finish before the database client closes")
	gcBudget := DefaultGCHeapBudget
	fs.integer(&gcBudget, "gc-heap-budget", DefaultGCHeapBudget, "bytes the heap may grow to between garbage collections (up to 5× the live heap, never less than Go's default 2×); 0: Go's default. Ignored when GOGC or GOMEMLIMIT is set")
	var sample, mask, cpuProfile string
	fs.str(&cpuProfile, "cpu-profile", "", "write a CPU profile of the whole run to this file when the server stops (go tool pprof; for benchmarks: bench/loadbench -cpu-profile)")
	fs.str(&cfg.DecisionLog, "decision-log", "off", "log every decision: off, stdout (one JSON line each) or mongo (the decisions collection, GET /api/v1/decisions)")
	fs.str(&sample, "decision-log-sample", "1", "share of decisions logged, more than 0 and at most 1 (kept or left out by decision id)")
	fs.str(&mask, "decision-log-mask", "", "input fields erased from every logged decision, comma-separated, e.g. subject.email,resource.attributes.ssn")
	fs.duration(&cfg.DecisionLogTTL, "decision-log-ttl", decisionlog.DefaultTTL, "how long --decision-log=mongo keeps an entry")
	if pos, err := cmd.parse(fs, std, args); err != nil {
		return err
	} else if len(pos) > 0 {
		return cmd.usageError("unexpected argument %q", pos[0])
	}
	if m, err := identity.ParseRoleMap(roleMap); err != nil {
		return cmd.usageError("--role-map: %v", err)
	} else if len(m) > 0 {
		if cfg.Claims.Roles == "" {
			return cmd.usageError("--role-map needs --claim-roles (the claim holding the IdP's roles)")
		}
		cfg.RoleMap = m
	}
	if (cfg.IntrospectionClientID == "") != (cfg.IntrospectionClientSecret == "") {
		return cmd.usageError("--oidc-introspection-client-id and --oidc-introspection-client-secret go together")
	}
	switch cfg.DecisionLog {
	case "off", "stdout", "mongo":
	default:
		return cmd.usageError("--decision-log %q: want off, stdout or mongo", cfg.DecisionLog)
	}
	if f, err := strconv.ParseFloat(sample, 64); err != nil || !(f > 0 && f <= 1) {
		return cmd.usageError("--decision-log-sample %q: a share more than 0 and at most 1, e.g. 0.1 (to log nothing use --decision-log=off)", sample)
	} else {
		cfg.DecisionLogSample = f
	}
	for part := range strings.SplitSeq(mask, ",") {
		if part = strings.TrimSpace(part); part != "" {
			cfg.DecisionLogMask = append(cfg.DecisionLogMask, part)
		}
	}
	if _, err := decisionlog.ParseMask(cfg.DecisionLogMask); err != nil {
		return cmd.usageError("--decision-log-mask: %v", err)
	}
	cfg.DecisionLogOut = stdout
	if u, err := decisions.CheckPublicURL(cfg.PublicURL); err != nil {
		return cmd.usageError("%v", err)
	} else {
		cfg.PublicURL = u
	}
	var lvl slog.Level
	if err := lvl.UnmarshalText([]byte(level)); err != nil {
		return cmd.usageError("--log-level %q: want debug, info, warn or error", level)
	}
	if cfg.BodyLimit <= 0 {
		return cmd.usageError("--body-limit must be a positive number of bytes")
	}
	if cfg.BulkBodyLimit <= 0 {
		return cmd.usageError("--bulk-body-limit must be a positive number of bytes")
	}
	if gcBudget < 0 {
		return cmd.usageError("--gc-heap-budget must be 0 or a number of bytes")
	}
	if cfg.ReadBufferSize < 4096 {
		return cmd.usageError("--read-buffer-size must be at least 4096 bytes")
	}
	for name, d := range map[string]time.Duration{
		"--staleness-bound": cfg.StalenessBound, "--db-timeout-decision": cfg.DecisionTimeout,
		"--db-timeout-write": cfg.WriteTimeout, "--shutdown-drain": cfg.ShutdownDrain, "--decision-log-ttl": cfg.DecisionLogTTL,
	} {
		if d <= 0 {
			return cmd.usageError("%s must be a positive duration such as 2s", name)
		}
	}
	if cpuProfile != "" {
		stop, err := cpuprofile.Start(cpuProfile)
		if err != nil {
			return cmd.usageError("--cpu-profile: %v", err)
		}
		defer func() { _ = stop() }()
	}
	cfg.Version = version
	cfg.Logger = slog.New(slog.NewJSONHandler(stdout, &slog.HandlerOptions{Level: lvl}))

	tuned := tuneGC(ctx, uint64(gcBudget), time.Second)
	cfg.Logger.Info("garbage collector", gcSettings(tuned, uint64(gcBudget))...)
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
	shutdownCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), cfg.ShutdownDrain)
	defer cancel()
	return svc.Shutdown(shutdownCtx)
}

// list binds a repeatable flag; its variable holds comma-separated values.
func (f *envFlags) list(p *[]string, name, help string) {
	if v, ok := os.LookupEnv(envName(name)); ok {
		for part := range strings.SplitSeq(v, ",") {
			if part = strings.TrimSpace(part); part != "" {
				*p = append(*p, part)
			}
		}
	}
	fromEnv := true
	f.Func(name, help+" ($"+envName(name)+", comma-separated)", func(v string) error {
		if fromEnv { // an explicit flag replaces the variable's values
			*p, fromEnv = nil, false
		}
		if v = strings.TrimSpace(v); v == "" {
			return fmt.Errorf("empty value")
		}
		*p = append(*p, v)
		return nil
	})
}
