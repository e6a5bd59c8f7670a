package service

import "github.com/valyala/fasthttp"

// Quieter is quieter, for the tests.
var Quieter = quieter

// Handler is the service's HTTP handler, to be called without a socket
// (BenchmarkCheckChain).
func (s *Service) Handler() fasthttp.RequestHandler { return s.app.Handler() }
