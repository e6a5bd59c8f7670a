package main

import (
	"bytes"
	"context"
	"strings"
	"testing"
)

func TestValidateCommand(t *testing.T) {
	tests := []struct {
		file string
		code int
		want string
	}{
		{"testdata/good.yaml", 0, "1 rules, valid"},
		{"testdata/bad.yaml", 1, "condition:1:45"},
		{"testdata/missing.yaml", 1, "no such file"},
	}
	for _, tt := range tests {
		var out, errb bytes.Buffer
		err := run(context.Background(), []string{"validate", tt.file}, &out, &errb)
		if got := 0; err != nil {
			got = exitCode(err)
			if got != tt.code {
				t.Fatalf("%s: exit %d, want %d (%v)", tt.file, got, tt.code, err)
			}
		} else if tt.code != 0 {
			t.Fatalf("%s: exit 0, want %d", tt.file, tt.code)
		}
		text := out.String() + errb.String()
		if err != nil {
			text += err.Error()
		}
		if !strings.Contains(text, tt.want) {
			t.Fatalf("%s: output %q lacks %q", tt.file, text, tt.want)
		}
	}
}

func TestUnknownCommandAndFlags(t *testing.T) {
	var out, errb bytes.Buffer
	if err := run(context.Background(), []string{"fly"}, &out, &errb); exitCode(err) != 2 {
		t.Fatalf("unknown command: %v", err)
	}
	if err := run(context.Background(), []string{"serve", "--log-level", "loud"}, &out, &errb); err == nil || exitCode(err) != 2 {
		t.Fatalf("bad log level: %v", err)
	}
	if err := run(context.Background(), []string{"token"}, &out, &errb); err == nil || exitCode(err) != 2 {
		t.Fatalf("token without --user: %v", err)
	}
}

func TestServeRefusesAnUnreachableMongoQuickly(t *testing.T) {
	var out, errb bytes.Buffer
	err := run(context.Background(), []string{"serve", "--mongo-uri", "mongodb://127.0.0.1:1/?serverSelectionTimeoutMS=300", "--addr", "127.0.0.1:0", "--data-dir", t.TempDir(), "--oidc-issuer", "http://127.0.0.1:1", "--oidc-client-id", "x"}, &out, &errb)
	if err == nil || !strings.Contains(err.Error(), "not reachable") {
		t.Fatalf("err = %v", err)
	}
}
