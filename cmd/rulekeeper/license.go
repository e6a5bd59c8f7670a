package main

import (
	"context"
	"crypto/ed25519"
	"encoding/base64"
	"fmt"
	"strings"
	"time"

	"github.com/rulekeeper/rulekeeper/resources/licenses"
)

var licenseSignCmd = &command{name: "license sign", short: "print a license key signed with the dev key (or --private-key)",
	args:    "[flags]",
	summary: "Print a license key signed with the dev key (or --private-key); apply it with PUT /api/v1/licenses/key.",
	example: "KEY=$(rulekeeper license sign --professional 5 --analyzer 20)\n" +
		"jq -n --arg key \"$KEY\" '{key: $key}' | curl -X PUT -H \"Authorization: Bearer $ADMIN\" localhost:8080/api/v1/licenses/key --data-binary @-",
	run: license}

// license signs license keys: `rulekeeper license sign`.
func license(_ context.Context, cmd *command, std *stdio, args []string) error {
	t := licenses.DevTerms(time.Now())
	var seed, expires, overage string
	fs := newFlags("license sign", std.err)
	fs.str(&t.KeyID, "key-id", "key-"+time.Now().UTC().Format("20060102150405"), "the key's id (assignments belong to it)")
	fs.integer(&t.Professional, "professional", 10, "professional seats")
	fs.integer(&t.Analyzer, "analyzer", 10, "analyzer seats")
	fs.integer(&t.CapacityMinutes, "capacity-minutes", 6000, "analyzer capacity minutes per month")
	fs.str(&overage, "overage", "600", "overage minutes after the monthly total, or \"unlimited\"")
	fs.integer(&t.SharedSpaces, "shared-spaces", 50, "shared spaces quota (0 with --shared-spaces-unlimited: none)")
	fs.boolean(&t.SharedSpacesUnlimited, "shared-spaces-unlimited", false, "no shared spaces quota")
	fs.integer(&t.AppSizeGB, "app-size-gb", 5, "in-memory app size (GB)")
	fs.str(&expires, "expires", "8760h", "expiry: an RFC 3339 time or a duration from now")
	fs.str(&seed, "private-key", "", "Ed25519 private key seed (base64, 32 bytes); default: the dev key")
	if _, err := cmd.parse(fs, std, args); err != nil {
		return err
	}
	if overage == "unlimited" {
		t.OverageUnlimited, t.OverageMinutes = true, 0
	} else if _, err := fmt.Sscan(overage, &t.OverageMinutes); err != nil {
		return cmd.usageError("--overage %q: a number of minutes or unlimited", overage)
	}
	if at, err := time.Parse(time.RFC3339, expires); err == nil {
		t.ExpiresAt = at.UTC()
	} else if d, derr := time.ParseDuration(expires); derr == nil {
		t.ExpiresAt = time.Now().UTC().Add(d).Truncate(time.Second)
	} else {
		return cmd.usageError("--expires %q: an RFC 3339 time or a duration", expires)
	}
	_, priv := licenses.DevKeyPair()
	if seed != "" {
		b, err := base64.StdEncoding.DecodeString(strings.TrimSpace(seed))
		if err != nil || len(b) != ed25519.SeedSize {
			return cmd.usageError("--private-key: want a base64 32-byte Ed25519 seed")
		}
		priv = ed25519.NewKeyFromSeed(b)
	}
	raw, err := licenses.Sign(priv, t)
	if err != nil {
		return err
	}
	fmt.Fprintln(std.out, raw)
	return nil
}
