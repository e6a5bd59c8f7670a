package idp

import (
	"errors"
	"net/http"
)

// Error codes of [Error]. They are stable: callers put them in API error
// bodies.
const (
	// CodeExpired: the token's exp is more than [ClockSkew] in the past.
	CodeExpired = "token_expired"
	// CodeNotYetValid: the token's nbf is more than [ClockSkew] in the future.
	CodeNotYetValid = "token_not_yet_valid"
	// CodeInvalidIssuer: the token's iss is not the configured issuer.
	CodeInvalidIssuer = "token_invalid_issuer"
	// CodeInvalidAudience: the token's aud holds none of the accepted
	// audiences (the message names them).
	CodeInvalidAudience = "token_invalid_audience"
	// CodeInvalidParty: the token was issued to a client (azp, client_id)
	// that is not among the configured authorized parties.
	CodeInvalidParty = "token_invalid_party"
	// CodeInactive: introspection says the opaque token is not active
	// (revoked, expired or unknown).
	CodeInactive = "token_inactive"
	// CodeInvalidSignature: unknown key id, bad signature, or a signing
	// algorithm that is not accepted ("none", HMAC, ...).
	CodeInvalidSignature = "token_invalid_signature"
	// CodeMalformed: not a compact JWS/JWT, or claims of the wrong shape
	// (including a missing exp or subject).
	CodeMalformed = "token_malformed"
	// CodeIssuerUnavailable: discovery, the JWKS fetch or introspection failed, so the
	// token could not be checked at all. Not the caller's fault: answer 503.
	CodeIssuerUnavailable = "issuer_unavailable"
)

// Error is what [Verifier.Verify] returns for every failure.
type Error struct {
	// Code is one of the Code* constants.
	Code string
	// Message is a human sentence, safe to show to the caller.
	Message string
	// Err is the underlying cause, if any, for logs; it may contain details
	// not meant for API clients.
	Err error
}

func (e *Error) Error() string {
	if e.Err != nil {
		return e.Code + ": " + e.Message + ": " + e.Err.Error()
	}
	return e.Code + ": " + e.Message
}

// Unwrap returns the cause, e.g. an [*oidc.TokenExpiredError].
func (e *Error) Unwrap() error { return e.Err }

// Unavailable reports whether the token could not be checked because the
// issuer could not be reached (the caller should answer 503, not 401).
func (e *Error) Unavailable() bool { return e.Code == CodeIssuerUnavailable }

// HTTPStatus is the status an API answers with: 503 for
// [CodeIssuerUnavailable], 401 for everything else.
func (e *Error) HTTPStatus() int {
	if e.Unavailable() {
		return http.StatusServiceUnavailable
	}
	return http.StatusUnauthorized
}

// IsUnavailable reports whether err is an [*Error] with
// [CodeIssuerUnavailable].
func IsUnavailable(err error) bool {
	var e *Error
	return errors.As(err, &e) && e.Unavailable()
}

func newError(code, msg string, cause error) *Error {
	return &Error{Code: code, Message: msg, Err: cause}
}
