package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/rulekeeper/rulekeeper/idp"
)

// token prints a token minted by a running dev-mode server.
func token(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var server, user, groups, email string
	fs := newFlags("token", stderr)
	fs.str(&server, "server", "http://127.0.0.1:8080", "base URL of a rulekeeper running with --dev")
	fs.str(&user, "user", "", "user name (required)")
	fs.str(&groups, "groups", "", "comma-separated group names")
	fs.str(&email, "email", "", "email address (default <user>@example.com)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if user == "" {
		return exitError{2, errors.New("token: --user is required")}
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
	fmt.Fprintln(stdout, t)
	return nil
}
