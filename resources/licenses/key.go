// Package licenses implements the license rules of seed 000 §1.1, §2, §3:
// signed license keys (Ed25519, verified with the configured public key),
// assignments that belong to a key, exclusion of the most recently assigned
// users when a key is over-allocated, dynamic assignment at login, analyzer
// capacity minutes, the shared-spaces quota, and the /licenses endpoints.
package licenses

import (
	"crypto/ed25519"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/go-jose/go-jose/v4"
)

// Terms are what a license key grants.
type Terms struct {
	KeyID        string `json:"keyId"`
	Professional int    `json:"professional"`
	Analyzer     int    `json:"analyzer"`
	// CapacityMinutes is the analyzer capacity per month.
	CapacityMinutes int `json:"capacityMinutes"`
	// Overage after the monthly minutes: OverageUnlimited, or up to
	// OverageMinutes more.
	OverageMinutes   int  `json:"overageMinutes"`
	OverageUnlimited bool `json:"overageUnlimited"`
	// SharedSpaces quota; 0 with SharedSpacesUnlimited means no limit.
	SharedSpaces          int       `json:"sharedSpaces"`
	SharedSpacesUnlimited bool      `json:"sharedSpacesUnlimited"`
	AppSizeGB             int       `json:"appSizeGB"`
	IssuedAt              time.Time `json:"issuedAt"`
	ExpiresAt             time.Time `json:"expiresAt"`
}

// Key errors, each a distinct 400 code.
var (
	ErrMalformed    = errors.New("license_key_malformed")
	ErrBadSignature = errors.New("license_key_bad_signature")
	ErrExpired      = errors.New("license_key_expired")
)

// Sign makes a license key: a compact JWS (EdDSA) over the JSON terms.
func Sign(priv ed25519.PrivateKey, t Terms) (string, error) {
	if t.KeyID == "" {
		return "", errors.New("license: the terms need a keyId")
	}
	payload, err := json.Marshal(t)
	if err != nil {
		return "", err
	}
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.EdDSA, Key: priv}, nil)
	if err != nil {
		return "", err
	}
	obj, err := signer.Sign(payload)
	if err != nil {
		return "", err
	}
	return obj.CompactSerialize()
}

// Verify checks a key's signature with pub and its expiry at now, and
// returns its terms.
func Verify(pub ed25519.PublicKey, raw string, now time.Time) (*Terms, error) {
	raw = strings.TrimSpace(raw)
	obj, err := jose.ParseSigned(raw, []jose.SignatureAlgorithm{jose.EdDSA})
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	payload, err := obj.Verify(pub)
	if err != nil {
		return nil, ErrBadSignature
	}
	var t Terms
	dec := json.NewDecoder(strings.NewReader(string(payload)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&t); err != nil {
		return nil, fmt.Errorf("%w: terms: %v", ErrMalformed, err)
	}
	if t.KeyID == "" || t.Professional < 0 || t.Analyzer < 0 || t.CapacityMinutes < 0 || t.OverageMinutes < 0 || t.SharedSpaces < 0 {
		return nil, fmt.Errorf("%w: terms need a keyId and no negative totals", ErrMalformed)
	}
	if t.ExpiresAt.IsZero() || !now.Before(t.ExpiresAt) {
		return nil, ErrExpired
	}
	return &t, nil
}

// ParsePublicKey reads an Ed25519 public key given as base64 (std or URL,
// 32 bytes) or as PEM ("PUBLIC KEY", PKIX), as `rulekeeper license keygen`
// writes them.
func ParsePublicKey(s string) (ed25519.PublicKey, error) {
	s = strings.TrimSpace(s)
	if block, _ := pem.Decode([]byte(s)); block != nil {
		k, err := x509.ParsePKIXPublicKey(block.Bytes)
		pub, ok := k.(ed25519.PublicKey)
		if err != nil || !ok {
			return nil, errors.New("license public key: the PEM block is not an Ed25519 public key")
		}
		return pub, nil
	}
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		if b, err := enc.DecodeString(s); err == nil && len(b) == ed25519.PublicKeySize {
			return ed25519.PublicKey(b), nil
		}
	}
	return nil, errors.New("license public key: want the key itself, a PEM block or 32 bytes of Ed25519 key in base64, not a file name (give the contents of the license-public.pem that rulekeeper license keygen wrote)")
}

// ParsePrivateKey reads an Ed25519 private key given as a base64 32-byte
// seed or as PEM ("PRIVATE KEY", PKCS #8).
func ParsePrivateKey(s string) (ed25519.PrivateKey, error) {
	s = strings.TrimSpace(s)
	if block, _ := pem.Decode([]byte(s)); block != nil {
		k, err := x509.ParsePKCS8PrivateKey(block.Bytes)
		priv, ok := k.(ed25519.PrivateKey)
		if err != nil || !ok {
			return nil, errors.New("license private key: the PEM block is not an Ed25519 private key (PKCS #8)")
		}
		return priv, nil
	}
	b, err := base64.StdEncoding.DecodeString(s)
	if err != nil || len(b) != ed25519.SeedSize {
		return nil, errors.New("license private key: want PEM (PKCS #8) or a base64 32-byte Ed25519 seed")
	}
	return ed25519.NewKeyFromSeed(b), nil
}

// KeyPairPEM encodes a key pair as PEM: PKCS #8 private, PKIX public.
func KeyPairPEM(pub ed25519.PublicKey, priv ed25519.PrivateKey) (privPEM, pubPEM []byte, err error) {
	p8, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		return nil, nil, err
	}
	pk, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return nil, nil, err
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: p8}),
		pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pk}), nil
}

// devSeed makes the dev key pair: public on purpose, for dev mode and
// tests only. A production deployment configures its own public key, so a
// key signed with this one is refused there.
var devSeed = [ed25519.SeedSize]byte{'r', 'u', 'l', 'e', 'k', 'e', 'e', 'p', 'e', 'r', '-', 'd', 'e', 'v', '-', 'l', 'i', 'c', 'e', 'n', 's', 'e', '-', 'k', 'e', 'y', '-', 'o', 'n', 'l', 'y', '!'}

// DevKeyPair returns the dev-mode license key pair.
func DevKeyPair() (ed25519.PublicKey, ed25519.PrivateKey) {
	priv := ed25519.NewKeyFromSeed(devSeed[:])
	return priv.Public().(ed25519.PublicKey), priv
}

// DevTerms are the terms of the dev tenant's license.
func DevTerms(now time.Time) Terms {
	return Terms{
		KeyID: "dev-license", Professional: 10, Analyzer: 10, CapacityMinutes: 6000, OverageMinutes: 600,
		SharedSpaces: 50, AppSizeGB: 5, IssuedAt: now.UTC().Truncate(time.Second), ExpiresAt: now.UTC().AddDate(1, 0, 0).Truncate(time.Second),
	}
}
