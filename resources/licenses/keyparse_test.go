package licenses_test

import (
	"crypto/ed25519"
	"encoding/base64"
	"testing"

	"github.com/rulekeeper/rulekeeper/resources/licenses"
)

// FuzzParseKeys: the key parsers refuse or return keys of the right size,
// and a pair written as PEM reads back as itself.
func FuzzParseKeys(f *testing.F) {
	pub, priv := licenses.DevKeyPair()
	privPEM, pubPEM, err := licenses.KeyPairPEM(pub, priv)
	if err != nil {
		f.Fatal(err)
	}
	for _, s := range []string{string(privPEM), string(pubPEM), base64.StdEncoding.EncodeToString(pub),
		base64.StdEncoding.EncodeToString(priv.Seed()), "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if k, err := licenses.ParsePublicKey(s); err == nil && len(k) != ed25519.PublicKeySize {
			t.Fatalf("public key of %d bytes", len(k))
		}
		if k, err := licenses.ParsePrivateKey(s); err == nil {
			if len(k) != ed25519.PrivateKeySize {
				t.Fatalf("private key of %d bytes", len(k))
			}
			a, b, err := licenses.KeyPairPEM(k.Public().(ed25519.PublicKey), k)
			if err != nil {
				t.Fatal(err)
			}
			k2, err := licenses.ParsePrivateKey(string(a))
			p2, err2 := licenses.ParsePublicKey(string(b))
			if err != nil || err2 != nil || !k2.Equal(k) || !p2.Equal(k.Public()) {
				t.Fatalf("PEM round trip: %v %v", err, err2)
			}
		}
	})
}
