// Package idp is rulekeeper's identity plumbing: it turns a bearer token into
// an [Identity] and knows nothing about HTTP frameworks or storage.
//
// Three parts:
//
//   - [Verifier] checks OIDC tokens from the configured issuer with go-oidc:
//     lazy, retried discovery; JWKS with key rotation, refetched at most once
//     per [DefaultKeyRefetchInterval] so forged tokens cannot hammer the
//     issuer; signature (asymmetric algorithms only), issuer, a list of
//     accepted audiences, optional authorized parties, expiry and
//     not-before with at most [ClockSkew] of leeway. It takes ID tokens, JWT
//     access tokens (RFC 9068) and, with client credentials, opaque access
//     tokens through introspection (RFC 7662); the userinfo endpoint fills
//     the claims an access token lacks. Answers of introspection and userinfo
//     are cached per token until it expires. Failures are [*Error] values
//     with a stable Code; [CodeIssuerUnavailable] means "try again later"
//     (503), every other code means the token is bad (401).
//     [Verifier.State] reports discovery and key fetches for /readyz.
//   - Package idptest runs a third-party OP (zitadel/oidc) for tests.
//   - [DevIssuer] is a small but real OIDC issuer for `serve --dev`
//     (discovery, JWKS, token endpoint) whose RS256 tokens go through the very
//     same [Verifier] as tokens of any other issuer; [FetchDevToken] is its
//     client for the `rulekeeper token` command.
//   - API key secrets: [NewAPIKeySecret], [HashAPIKeySecret],
//     [LooksLikeAPIKey], [EqualHash].
package idp
