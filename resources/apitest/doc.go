// Package apitest holds the HTTP tests of the resources' handlers, a file
// per area, each starting the whole service through servicetest. They share
// one test binary and one database server: each resource package of its own
// linked the same service (OPA, Fiber, the MongoDB driver) into a test
// binary and started a database server, and those links and start-ups were
// a third of `make test`. Tests of a package's internals and its fuzz
// targets stay beside the package.
package apitest
