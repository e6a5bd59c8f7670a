package main

import (
	"crypto/ed25519"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/rulekeeper/rulekeeper/resources/licenses"
)

// license signs license keys: `rulekeeper license sign`.
func license(args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 || args[0] != "sign" {
		return exitError{2, errors.New("usage: rulekeeper license sign [flags]")}
	}
	t := licenses.DevTerms(time.Now())
	var seed, expires, overage string
	fs := newFlags("license sign", stderr)
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
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	if overage == "unlimited" {
		t.OverageUnlimited, t.OverageMinutes = true, 0
	} else if _, err := fmt.Sscan(overage, &t.OverageMinutes); err != nil {
		return exitError{2, fmt.Errorf("--overage %q: a number of minutes or unlimited", overage)}
	}
	if at, err := time.Parse(time.RFC3339, expires); err == nil {
		t.ExpiresAt = at.UTC()
	} else if d, derr := time.ParseDuration(expires); derr == nil {
		t.ExpiresAt = time.Now().UTC().Add(d).Truncate(time.Second)
	} else {
		return exitError{2, fmt.Errorf("--expires %q: an RFC 3339 time or a duration", expires)}
	}
	_, priv := licenses.DevKeyPair()
	if seed != "" {
		b, err := base64.StdEncoding.DecodeString(strings.TrimSpace(seed))
		if err != nil || len(b) != ed25519.SeedSize {
			return exitError{2, errors.New("--private-key: want a base64 32-byte Ed25519 seed")}
		}
		priv = ed25519.NewKeyFromSeed(b)
	}
	raw, err := licenses.Sign(priv, t)
	if err != nil {
		return err
	}
	fmt.Fprintln(stdout, raw)
	return nil
}
