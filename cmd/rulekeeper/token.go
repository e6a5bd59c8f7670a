package main

import (
	"context"
	"fmt"
	"strings"

	"github.com/rulekeeper/rulekeeper/idp"
)

var tokenCmd = &command{name: "token", short: "print a dev-mode token for a demo user",
	args:    "--user NAME [flags]",
	summary: "Print a token minted by a running dev-mode server (serve --dev) for a demo user.",
	example: "T=$(rulekeeper token --user alice)\ncurl -H \"Authorization: Bearer $T\" localhost:8080/api/v1/users/me",
	run:     token}

// token prints a token minted by a running dev-mode server.
func token(ctx context.Context, cmd *command, std *stdio, args []string) error {
	var server, user, groups, email string
	fs := newFlags("token", std.err)
	fs.str(&server, "server", "http://127.0.0.1:8080", "base URL of a rulekeeper running with --dev")
	fs.str(&user, "user", "", "user name (required)")
	fs.str(&groups, "groups", "", "comma-separated group names")
	fs.str(&email, "email", "", "email address (default <user>@example.com)")
	if _, err := cmd.parse(fs, std, args); err != nil {
		return err
	}
	if user == "" {
		return cmd.usageError("--user is required: the name of a demo user, e.g. --user alice")
	}
	var gs []string
	for _, g := range strings.Split(groups, ",") {
		if g = strings.TrimSpace(g); g != "" {
			gs = append(gs, g)
		}
	}
	t, err := idp.FetchDevToken(ctx, server, user, gs, email)
	if err != nil {
		return fmt.Errorf("token: %w", err)
	}
	fmt.Fprintln(std.out, t)
	return nil
}
