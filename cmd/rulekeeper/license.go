package main

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"os"
	"time"

	"github.com/rulekeeper/rulekeeper/resources/licenses"
)

var licenseSignCmd = &command{name: "license sign", short: "print a license key signed with --private-key-file (default: the dev key)",
	args:    "[flags]",
	summary: "Print a license key signed with --private-key-file or --private-key (default: the dev key, which only dev-mode servers accept); apply it with PUT /api/v1/licenses/key.",
	example: "KEY=$(rulekeeper license sign --private-key-file license-private.pem --professional 5 --analyzer 20)\n" +
		"curl -X PUT -H \"Authorization: Bearer $ADMIN\" -H 'Content-Type: text/plain' localhost:8080/api/v1/licenses/key --data-binary \"$KEY\"",
	run: license}

var licenseKeygenCmd = &command{name: "license keygen", short: "write a new license key pair (PEM or base64 files)",
	args:    "[flags]",
	summary: "Write a new Ed25519 key pair for license keys: the private key (mode 0600) signs with `license sign --private-key-file`, the public key goes to `serve --license-public-key`.",
	example: "rulekeeper license keygen --private-key-file license-private.pem --public-key-file license-public.pem",
	run:     licenseKeygen}

// license signs license keys: `rulekeeper license sign`.
func license(_ context.Context, cmd *command, std *stdio, args []string) error {
	t := licenses.DevTerms(time.Now())
	var seed, seedFile, expires, overage string
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
	fs.str(&seed, "private-key", "", "Ed25519 private key: PEM or a base64 32-byte seed; default: the dev key")
	fs.str(&seedFile, "private-key-file", "", "file holding the private key (as written by rulekeeper license keygen)")
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
	if seedFile != "" {
		if seed != "" {
			return cmd.usageError("--private-key and --private-key-file: give one")
		}
		b, err := os.ReadFile(seedFile)
		if err != nil {
			return cmd.usageError("--private-key-file: %v", err)
		}
		seed = string(b)
	}
	if seed != "" {
		p, err := licenses.ParsePrivateKey(seed)
		if err != nil {
			return cmd.usageError("%v", err)
		}
		priv = p
	} else {
		fmt.Fprintln(std.err, "rulekeeper: signing with the public dev key: only servers in dev mode accept this license key")
	}
	raw, err := licenses.Sign(priv, t)
	if err != nil {
		return err
	}
	fmt.Fprintln(std.out, raw)
	return nil
}

// licenseKeygen writes a new Ed25519 key pair for license keys: the
// private key (mode 0600) signs with `license sign --private-key-file`,
// the public key goes to `serve --license-public-key`.
func licenseKeygen(_ context.Context, cmd *command, std *stdio, args []string) error {
	var privPath, pubPath, format string
	var force bool
	fs := newFlags("license keygen", std.err)
	fs.str(&privPath, "private-key-file", "license-private.pem", "where to write the private key (kept secret, mode 0600)")
	fs.str(&pubPath, "public-key-file", "license-public.pem", "where to write the public key")
	fs.str(&format, "format", "pem", "pem (PKCS #8 / PKIX) or base64 (32-byte seed / 32-byte key)")
	fs.boolean(&force, "force", false, "overwrite existing files")
	if _, err := cmd.parse(fs, std, args); err != nil {
		return err
	}
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return err
	}
	var privOut, pubOut []byte
	switch format {
	case "pem":
		if privOut, pubOut, err = licenses.KeyPairPEM(pub, priv); err != nil {
			return err
		}
	case "base64":
		privOut = []byte(base64.StdEncoding.EncodeToString(priv.Seed()) + "\n")
		pubOut = []byte(base64.StdEncoding.EncodeToString(pub) + "\n")
	default:
		return cmd.usageError("--format %q: pem or base64", format)
	}
	flags := os.O_WRONLY | os.O_CREATE | os.O_EXCL
	if force {
		flags = os.O_WRONLY | os.O_CREATE | os.O_TRUNC
	}
	for _, f := range []struct {
		path string
		data []byte
		mode os.FileMode
	}{{privPath, privOut, 0o600}, {pubPath, pubOut, 0o644}} {
		fh, err := os.OpenFile(f.path, flags, f.mode)
		if err != nil {
			return fmt.Errorf("write %s: %w (use --force to overwrite)", f.path, err)
		}
		if _, err := fh.Write(f.data); err != nil {
			fh.Close()
			return err
		}
		if err := fh.Close(); err != nil {
			return err
		}
	}
	fmt.Fprintf(std.out, "%s\n", base64.StdEncoding.EncodeToString(pub))
	fmt.Fprintf(std.err, "wrote %s (secret) and %s\n  serve with: --license-public-key %s  (or the contents of %s)\n  sign with:  rulekeeper license sign --private-key-file %s\n",
		privPath, pubPath, base64.StdEncoding.EncodeToString(pub), pubPath, privPath)
	return nil
}
