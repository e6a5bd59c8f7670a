// Package idp is rulekeeper's identity plumbing: it turns a bearer token into
// an [Identity] and knows nothing about HTTP frameworks or storage.
//
// Three parts:
//
//   - [Verifier] checks OIDC tokens from the configured issuer with go-oidc:
//     lazy, retried discovery; JWKS with key rotation; signature (asymmetric
//     algorithms only), issuer, audience, expiry and not-before with at most
//     [ClockSkew] of leeway. Failures are [*Error] values with a stable Code;
//     [CodeIssuerUnavailable] means "try again later" (503), every other code
//     means the token is bad (401).
//   - [DevIssuer] is a small but real OIDC issuer for `serve --dev`
//     (discovery, JWKS, token endpoint) whose RS256 tokens go through the very
//     same [Verifier] as tokens of any other issuer; [FetchDevToken] is its
//     client for the `rulekeeper token` command.
//   - API key secrets: [NewAPIKeySecret], [HashAPIKeySecret],
//     [LooksLikeAPIKey], [EqualHash].
package idp
