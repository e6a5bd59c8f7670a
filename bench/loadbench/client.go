package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"syscall"
	"time"

	"github.com/valyala/fasthttp"
)

// Load generator clients. Each load goroutine has one client, and a client
// keeps one keep-alive connection per server. The generator shares the
// machine's cores with the server it measures, so whatever CPU it spends
// per request is taken from that server: the default client is the
// cheapest honest one, fasthttp's (already in the module through Fiber),
// with one request and one response reused for every request and the body
// appended into a reused buffer; net/http's client (-client nethttp, what
// the bench used before) is kept to compare. Both servers get the same
// client, and the report gives the generator's own CPU per request
// (selfCPU) beside the servers'.

// Client kinds (-client).
const (
	clientFast    = "fasthttp"
	clientNetHTTP = "nethttp"
)

// loadClient is one goroutine's keep-alive connection(s).
type loadClient interface {
	// post sends body to t and answers the status and, with keep, a copy
	// of the answer (otherwise the answer is read and dropped).
	post(ctx context.Context, t *target, body []byte, keep bool) (status int, answer []byte, err error)
	close()
}

// requestTimeout bounds one request of the load (a hung server fails the
// run instead of stalling it).
const requestTimeout = 10 * time.Second

func newClient(kind string) loadClient {
	if kind == clientNetHTTP {
		return &netClient{c: &http.Client{
			Timeout: requestTimeout,
			Transport: &http.Transport{
				MaxConnsPerHost: 1, MaxIdleConnsPerHost: 1, MaxIdleConns: 2,
				DisableCompression: true, IdleConnTimeout: time.Minute,
			},
		}}
	}
	return &fastClient{hosts: map[*target]*fastHost{}}
}

// netClient is net/http's client.
type netClient struct{ c *http.Client }

func (n *netClient) post(ctx context.Context, t *target, body []byte, keep bool) (int, []byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, t.url, bytes.NewReader(body))
	if err != nil {
		return 0, nil, err
	}
	req.Header = t.header
	resp, err := n.c.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	if !keep {
		_, err = io.Copy(io.Discard, resp.Body)
		return resp.StatusCode, nil, err
	}
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, b, err
}

func (n *netClient) close() { n.c.CloseIdleConnections() }

// fastClient is fasthttp's client: per server a HostClient limited to one
// connection, and a request (method, URI and headers set once) and a
// response reused for every request.
type fastClient struct {
	hosts map[*target]*fastHost
}

type fastHost struct {
	hc   *fasthttp.HostClient
	req  *fasthttp.Request
	resp *fasthttp.Response
}

func (f *fastClient) host(t *target) (*fastHost, error) {
	if h := f.hosts[t]; h != nil {
		return h, nil
	}
	u, err := url.Parse(t.url)
	if err != nil {
		return nil, err
	}
	if u.Scheme != "http" {
		return nil, fmt.Errorf("%s: only http:// URLs", t.url)
	}
	h := &fastHost{
		hc: &fasthttp.HostClient{
			Addr: u.Host, MaxConns: 1,
			ReadTimeout: requestTimeout, WriteTimeout: requestTimeout,
			MaxIdleConnDuration:      time.Minute,
			NoDefaultUserAgentHeader: true,
			// The answers are read as sent (no header normalising).
			DisableHeaderNamesNormalizing: true,
		},
		req: fasthttp.AcquireRequest(), resp: fasthttp.AcquireResponse(),
	}
	h.req.Header.SetMethod(fasthttp.MethodPost)
	h.req.SetRequestURI(t.url)
	for k, vs := range t.header {
		for _, v := range vs {
			h.req.Header.Add(k, v)
		}
	}
	f.hosts[t] = h
	return h, nil
}

func (f *fastClient) post(_ context.Context, t *target, body []byte, keep bool) (int, []byte, error) {
	h, err := f.host(t)
	if err != nil {
		return 0, nil, err
	}
	// The body is the caller's buffer, not copied; it stays untouched
	// until Do returns.
	h.req.SetBodyRaw(body)
	if err := h.hc.Do(h.req, h.resp); err != nil {
		return 0, nil, err
	}
	if !keep {
		return h.resp.StatusCode(), nil, nil
	}
	return h.resp.StatusCode(), slices.Clone(h.resp.Body()), nil
}

func (f *fastClient) close() {
	for _, h := range f.hosts {
		h.hc.CloseIdleConnections()
		fasthttp.ReleaseRequest(h.req)
		fasthttp.ReleaseResponse(h.resp)
	}
	clear(f.hosts)
}

// selfCPU is the CPU time (user and system) this process — the load
// generator — has used so far, every thread counted.
func selfCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
