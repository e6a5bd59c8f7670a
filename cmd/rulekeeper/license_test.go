package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rulekeeper/rulekeeper/resources/licenses"
)

// TestLicenseKeygenThenSign: a pair made by keygen (PEM and base64) signs a
// key that its public key verifies and the dev key does not.
func TestLicenseKeygenThenSign(t *testing.T) {
	for _, format := range []string{"pem", "base64"} {
		t.Run(format, func(t *testing.T) {
			dir := t.TempDir()
			priv, pub := filepath.Join(dir, "k"), filepath.Join(dir, "k.pub")
			var out, errb bytes.Buffer
			args := []string{"license", "keygen", "--format", format, "--private-key-file", priv, "--public-key-file", pub}
			if err := run(context.Background(), args, &out, &errb); err != nil {
				t.Fatalf("keygen: %v %s", err, errb.String())
			}
			if st, err := os.Stat(priv); err != nil || st.Mode().Perm() != 0o600 {
				t.Fatalf("private key file: %v %v", st, err)
			}
			if err := run(context.Background(), args, &out, &errb); err == nil {
				t.Fatal("keygen overwrote the pair without --force")
			}
			var key bytes.Buffer
			if err := run(context.Background(), []string{"license", "sign", "--private-key-file", priv, "--key-id", "prod-1"}, &key, &errb); err != nil {
				t.Fatalf("sign: %v", err)
			}
			for _, given := range []string{readFile(t, pub), strings.Split(out.String(), "\n")[0]} {
				pk, err := licenses.ParsePublicKey(given)
				if err != nil {
					t.Fatal(err)
				}
				terms, err := licenses.Verify(pk, key.String(), time.Now())
				if err != nil || terms.KeyID != "prod-1" {
					t.Fatalf("verify with %q: %+v %v", given, terms, err)
				}
			}
			// The file's name instead of its contents is named as the mistake.
			if _, err := licenses.ParsePublicKey(pub); err == nil || !strings.Contains(err.Error(), "not a file name") {
				t.Fatalf("a file name as the public key: %v", err)
			}
			dev, _ := licenses.DevKeyPair()
			if _, err := licenses.Verify(dev, key.String(), time.Now()); err == nil {
				t.Fatal("the dev key verified a production license key")
			}
		})
	}
}

func TestServeRefusesABadRoleMap(t *testing.T) {
	for _, args := range [][]string{
		{"serve", "--claim-roles", "roles", "--role-map", "admins=Overlord"},
		{"serve", "--role-map", "admins=TenantAdmin"},
		{"serve", "--oidc-introspection-client-id", "rk"},
	} {
		var out, errb bytes.Buffer
		if err := run(context.Background(), args, &out, &errb); exitCode(err) != 2 {
			t.Errorf("%v: %v", args, err)
		}
	}
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
