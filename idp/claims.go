package idp

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"strings"
	"time"
)

// maxTokenSize bounds the tokens looked at (tokens with many groups can be
// several kilobytes, but not this many).
const maxTokenSize = 64 << 10

// tokenClaims are the claims go-oidc reads, typed as go-oidc types them, so
// that a token go-oidc cannot decode is found malformed here.
type tokenClaims struct {
	Issuer    string       `json:"iss"`
	Subject   string       `json:"sub"`
	Audience  audience     `json:"aud"`
	Expiry    *numericDate `json:"exp"`
	NotBefore *numericDate `json:"nbf"`
	IssuedAt  *numericDate `json:"iat"`
	Nonce     string       `json:"nonce"`
	AtHash    string       `json:"at_hash"`
	// AuthorizedParty (azp), ClientID (RFC 9068) and Scope tell access
	// tokens and the client they were issued to.
	AuthorizedParty string            `json:"azp"`
	ClientID        string            `json:"client_id"`
	Scope           any               `json:"scope"`
	ClaimNames      map[string]string `json:"_claim_names"`
	ClaimSources    map[string]struct {
		Endpoint    string `json:"endpoint"`
		AccessToken string `json:"access_token"`
	} `json:"_claim_sources"`
}

// preparse checks the structure of raw before anything is fetched or
// verified: three base64url parts, a JSON header naming an accepted
// algorithm, a JSON object of claims with an exp. The claims it returns are
// NOT verified; they serve only to explain a rejection by go-oidc. typ is
// the header's typ ("at+jwt" marks an RFC 9068 access token).
func preparse(raw string) (c *tokenClaims, typ string, e *Error) {
	if raw == "" {
		return nil, "", newError(CodeMalformed, "the token is empty", nil)
	}
	if len(raw) > maxTokenSize {
		return nil, "", newError(CodeMalformed, fmt.Sprintf("the token is longer than %d bytes", maxTokenSize), nil)
	}
	parts := strings.Split(raw, ".")
	switch len(parts) {
	case 3:
	case 5:
		return nil, "", newError(CodeMalformed, "encrypted tokens (JWE) are not supported", nil)
	default:
		return nil, "", newError(CodeMalformed, "the token is not a JWT (three dot-separated parts); opaque access tokens need introspection (--oidc-introspection-client-id)", nil)
	}
	hb, err := base64.RawURLEncoding.DecodeString(parts[0])
	if err != nil {
		return nil, "", newError(CodeMalformed, "the token's header is not base64url", err)
	}
	var header struct {
		Alg string `json:"alg"`
		Typ string `json:"typ"`
	}
	if err := json.Unmarshal(hb, &header); err != nil {
		return nil, "", newError(CodeMalformed, "the token's header is not a JSON object", err)
	}
	if !slices.Contains(asymmetricAlgs, header.Alg) {
		return nil, "", newError(CodeInvalidSignature,
			fmt.Sprintf("the signing algorithm %s is not accepted (asymmetric algorithms only)", quote(header.Alg)), nil)
	}
	pb, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		return nil, "", newError(CodeMalformed, "the token's claims are not base64url", err)
	}
	c, perr := parseClaims(pb)
	if perr != nil {
		return nil, "", perr
	}
	if parts[2] == "" {
		return nil, "", newError(CodeInvalidSignature, "the token is not signed", nil)
	}
	if _, err := base64.RawURLEncoding.DecodeString(parts[2]); err != nil {
		return nil, "", newError(CodeMalformed, "the token's signature is not base64url", err)
	}
	return c, header.Typ, nil
}

func parseClaims(payload []byte) (*tokenClaims, *Error) {
	if !bytes.HasPrefix(bytes.TrimSpace(payload), []byte("{")) {
		return nil, newError(CodeMalformed, "the token's claims are not a JSON object", nil)
	}
	var c tokenClaims
	if err := json.Unmarshal(payload, &c); err != nil {
		return nil, newError(CodeMalformed, "the token's standard claims (iss, sub, aud, exp, nbf, iat, ...) have the wrong types", err)
	}
	for _, src := range c.ClaimNames {
		if _, ok := c.ClaimSources[src]; !ok || src == "" {
			return nil, newError(CodeMalformed, "the token's _claim_names refer to a missing _claim_sources entry", nil)
		}
	}
	if c.Expiry == nil {
		return nil, newError(CodeMalformed, "the token has no exp claim", nil)
	}
	return &c, nil
}

// identity reads the identity claims of a verified payload.
func (c ClaimNames) identity(payload []byte) (Identity, *Error) {
	dec := json.NewDecoder(bytes.NewReader(payload))
	dec.UseNumber()
	var m map[string]any
	if err := dec.Decode(&m); err != nil {
		return Identity{}, newError(CodeMalformed, "the token's claims are not a JSON object", err)
	}
	id := Identity{Subject: scalar(lookup(m, c.Subject))}
	if strings.TrimSpace(id.Subject) == "" {
		return Identity{}, newError(CodeMalformed,
			fmt.Sprintf("the token has no %q claim (the user's stable id)", c.Subject), nil)
	}
	id.Name = strings.TrimSpace(scalar(lookup(m, c.Name)))
	id.Email = strings.TrimSpace(scalar(lookup(m, c.Email)))
	id.EmailUnverified = isFalse(m["email_verified"])
	id.Groups = list(lookup(m, c.Groups))
	id.Roles = list(lookup(m, c.Roles))
	return id, nil
}

// isFalse reports whether a claim is false: the boolean, or the string
// "false" that some identity providers send.
func isFalse(v any) bool {
	switch v := v.(type) {
	case bool:
		return !v
	case string:
		return strings.EqualFold(strings.TrimSpace(v), "false")
	}
	return false
}

// lookup finds a claim by its name, or else by a dotted path into nested
// objects. The exact name comes first because claim names may contain dots
// ("https://example.com/groups").
func lookup(m map[string]any, name string) any {
	if name == "" {
		return nil
	}
	if v, ok := m[name]; ok {
		return v
	}
	if !strings.Contains(name, ".") {
		return nil
	}
	var cur any = m
	for part := range strings.SplitSeq(name, ".") {
		obj, ok := cur.(map[string]any)
		if !ok {
			return nil
		}
		if cur, ok = obj[part]; !ok {
			return nil
		}
	}
	return cur
}

// scalar is a string or number claim as a string; "" for anything else.
func scalar(v any) string {
	switch v := v.(type) {
	case string:
		return v
	case json.Number:
		return v.String()
	}
	return ""
}

// list is a claim holding one name (a string) or several (an array), as
// trimmed, distinct, non-empty strings; other types give nothing.
func list(v any) []string {
	var out []string
	add := func(s string) {
		if s = strings.TrimSpace(s); s != "" && !slices.Contains(out, s) {
			out = append(out, s)
		}
	}
	switch v := v.(type) {
	case string, json.Number:
		add(scalar(v))
	case []any:
		out = []string{} // present but empty is not absent
		for _, e := range v {
			add(scalar(e))
		}
	}
	return out
}

// audience is a string or an array of strings.
type audience []string

func (a *audience) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err == nil {
		*a = audience{s}
		return nil
	}
	var l []string
	if err := json.Unmarshal(b, &l); err != nil {
		return err
	}
	*a = l
	return nil
}

// numericDate is seconds since the epoch, integer or not.
type numericDate struct{ time.Time }

func (n *numericDate) UnmarshalJSON(b []byte) error {
	var num json.Number
	if err := json.Unmarshal(b, &num); err != nil {
		return err
	}
	if i, err := num.Int64(); err == nil {
		n.Time = time.Unix(i, 0)
		return nil
	}
	f, err := num.Float64()
	if err != nil {
		return err
	}
	sec, frac := math.Modf(f)
	n.Time = time.Unix(int64(sec), int64(frac*1e9))
	return nil
}
