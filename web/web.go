// Package web holds the management console's static assets, embedded in the
// binary and served at /console/. The console is a thin page over the REST
// API; every action it offers is decided by the same engine as any other
// API call.
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
