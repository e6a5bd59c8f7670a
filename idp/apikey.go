package idp

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"strings"
)

// APIKeyPrefix starts every API key secret; it tells API keys from OIDC
// tokens (a JWT starts with "eyJ") and makes leaked keys easy to scan for.
const APIKeyPrefix = "rk_"

// apiKeyBytes is the entropy of a secret: 256 bits.
const apiKeyBytes = 32

// NewAPIKeySecret returns a new API key secret, to be shown once, and the
// hash to store. The secret is "rk_" followed by 32 random bytes in
// base64url (43 characters).
func NewAPIKeySecret() (secret, hash string, err error) {
	b := make([]byte, apiKeyBytes)
	if _, err := rand.Read(b); err != nil {
		return "", "", fmt.Errorf("idp: generate API key secret: %w", err)
	}
	secret = APIKeyPrefix + base64.RawURLEncoding.EncodeToString(b)
	return secret, HashAPIKeySecret(secret), nil
}

// HashAPIKeySecret is the stored form of a secret: hex SHA-256 of the whole
// secret, prefix included.
//
// A plain, fast hash is right here, unlike for passwords: slow KDFs (bcrypt,
// argon2) exist to make guessing low-entropy human secrets expensive, but
// these secrets are 256 uniformly random bits, so neither brute force nor
// precomputed tables can get anywhere against SHA-256 preimages. A fast,
// deterministic, unsalted hash also lets the key be looked up by its hash in
// an index, and costs nothing per request.
func HashAPIKeySecret(secret string) string {
	sum := sha256.Sum256([]byte(secret))
	return hex.EncodeToString(sum[:])
}

// LooksLikeAPIKey reports whether a bearer token is an API key (prefix
// "rk_") rather than an OIDC token. It says nothing about validity.
func LooksLikeAPIKey(token string) bool {
	return strings.HasPrefix(token, APIKeyPrefix)
}

// EqualHash compares two hashes in constant time (for equal lengths). Empty
// hashes never match.
func EqualHash(a, b string) bool {
	if a == "" || b == "" {
		return false
	}
	return subtle.ConstantTimeCompare([]byte(a), []byte(b)) == 1
}
