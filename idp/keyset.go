package idp

import (
	"bytes"
	"io"
	"net/http"
	"strconv"
	"sync"
	"time"
)

// DefaultKeyRefetchInterval is the least time between two JWKS fetches of
// one issuer. go-oidc fetches the JWKS again whenever no cached key
// verifies a token; without a bound, every forged token (unknown kid, bad
// signature) would cost the issuer a request.
const DefaultKeyRefetchInterval = 10 * time.Second

// jwksLimiter is the HTTP transport of a [Verifier]: it passes every
// request through, except that GETs of the issuer's JWKS URL are made at
// most once per interval; in between, the answer of the last fetch (or its
// error) is handed to go-oidc's remote key set again, so that a token whose
// key is not in it is refused as a bad signature without a fetch. It also
// records the issuer's state for /readyz.
type jwksLimiter struct {
	base     http.RoundTripper
	interval time.Duration
	now      func() time.Time

	// fetch is held across a JWKS fetch, so that concurrent callers wait
	// for it and get its answer (go-oidc already shares one fetch between
	// them); mu guards the fields below and is never held across I/O, so
	// State answers at once.
	fetch     sync.Mutex
	mu        sync.Mutex
	jwksURL   string // "" until discovery succeeded
	last      time.Time
	status    int
	header    http.Header
	body      []byte
	err       error
	fetches   int
	fetchedAt time.Time // last successful fetch
	lastErr   string
	lastErrAt time.Time
}

func (l *jwksLimiter) setJWKSURL(u string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.jwksURL = u
}

// RoundTrip implements http.RoundTripper.
func (l *jwksLimiter) RoundTrip(req *http.Request) (*http.Response, error) {
	l.mu.Lock()
	jwks := l.jwksURL
	l.mu.Unlock()
	if req.Method != http.MethodGet || jwks == "" || req.URL.String() != jwks {
		return l.base.RoundTrip(req)
	}
	l.fetch.Lock()
	defer l.fetch.Unlock()
	l.mu.Lock()
	if !l.last.IsZero() && l.now().Sub(l.last) < l.interval {
		defer l.mu.Unlock()
		return l.replay(req)
	}
	l.last = l.now()
	l.fetches++
	l.mu.Unlock()

	resp, err := l.base.RoundTrip(req)
	var body []byte
	if err == nil {
		body, err = io.ReadAll(io.LimitReader(resp.Body, 1<<20))
		resp.Body.Close()
	}

	l.mu.Lock()
	defer l.mu.Unlock()
	if err != nil {
		l.status, l.body, l.err = 0, nil, err
		l.failed(err.Error())
		return nil, err
	}
	l.status, l.header, l.body, l.err = resp.StatusCode, resp.Header.Clone(), body, nil
	if resp.StatusCode == http.StatusOK {
		l.fetchedAt = l.last
		l.lastErr = ""
	} else {
		l.failed("JWKS answered " + resp.Status)
	}
	return l.replay(req)
}

func (l *jwksLimiter) failed(msg string) {
	l.lastErr, l.lastErrAt = "JWKS: "+msg, l.now()
}

func (l *jwksLimiter) replay(req *http.Request) (*http.Response, error) {
	if l.err != nil {
		return nil, l.err
	}
	return &http.Response{
		Status: strconv.Itoa(l.status) + " " + http.StatusText(l.status), StatusCode: l.status, Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
		Header: l.header.Clone(), Body: io.NopCloser(bytes.NewReader(l.body)),
		ContentLength: int64(len(l.body)), Request: req,
	}, nil
}

// IssuerState is what a [Verifier] knows about its issuer, for readiness
// reports.
type IssuerState struct {
	Issuer     string `json:"issuer"`
	Discovered bool   `json:"discovered"`
	// JWKSFetchedAt is the time of the last successful JWKS fetch; zero
	// before the first (keys are fetched on the first token).
	JWKSFetchedAt time.Time `json:"jwksFetchedAt,omitzero"`
	// JWKSFetches counts the JWKS requests made (rate-limited).
	JWKSFetches int `json:"jwksFetches"`
	// LastError is the last discovery or JWKS failure, "" once a later
	// attempt succeeded.
	LastError   string    `json:"lastError,omitempty"`
	LastErrorAt time.Time `json:"lastErrorAt,omitzero"`
	Introspects bool      `json:"introspection"`
	Userinfo    bool      `json:"userinfo"`
}
