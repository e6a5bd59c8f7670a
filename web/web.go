// Package web holds the management console: plain ES modules, HTML and CSS
// (no build step, no Node), embedded in the binary and served at /console/.
// The console signs in with OIDC (authorization code + PKCE), keeps the
// token in memory and calls the REST API; every action it offers is decided
// by the same engine as any other API call. Its end-to-end tests drive a
// real Chromium (package web/browsertest).
package web

import (
	"embed"
	"io/fs"
)

//go:embed static
var assets embed.FS

// Assets returns the console's files rooted at the static folder.
func Assets() fs.FS {
	sub, err := fs.Sub(assets, "static")
	if err != nil {
		panic(err) // the folder is embedded at build time; this cannot fail
	}
	return sub
}

// Config is what the console reads from /console/config.json before it
// signs in: the OIDC issuer whose discovery document names the
// authorization and token endpoints, and the client id the console uses
// (authorization code flow with PKCE, no client secret).
type Config struct {
	Issuer   string `json:"issuer"`
	ClientID string `json:"clientId"`
	Dev      bool   `json:"dev"`
}
