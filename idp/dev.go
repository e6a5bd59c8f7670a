package idp

import (
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"mime"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
)

const (
	// DevMountPath is where the server mounts [DevIssuer.Handler]; the dev
	// issuer URL is the server URL followed by it.
	DevMountPath = "/dev/oidc"
	// DevKeyFile is the dev issuer's signing key, in the data directory.
	DevKeyFile = "dev-oidc-key.pem"
	// DevTokenTTL is the lifetime of tokens from the token endpoint.
	DevTokenTTL = time.Hour

	devKeyBits      = 2048
	devMaxBody      = 64 << 10
	devMaxNameRunes = 128
	devMaxGroups    = 64
)

// DevSubject is the sub claim of dev issuer tokens for a user name: stable,
// so a user's tokens always log in as the same user, and distinct from any
// real issuer's subjects.
func DevSubject(user string) string { return "dev|" + user }

// DevIssuer is a small, real OIDC issuer for dev mode: discovery, JWKS and a
// token endpoint that mints RS256 tokens for any user name, with no
// authentication at all. Its tokens are checked by a [Verifier] configured
// with its issuer URL, exactly as tokens of any other issuer.
type DevIssuer struct {
	issuer   string
	clientID string
	prefix   string // the issuer URL's path, e.g. "/dev/oidc"
	keyPath  string
	key      *rsa.PrivateKey
	kid      string
	signer   jose.Signer
	now      func() time.Time
	users    []string // offered by the login page
	codes    devCodes // authorization codes waiting for their exchange
}

// NewDevIssuer returns the dev issuer for issuerURL (e.g.
// "http://127.0.0.1:8080/dev/oidc") whose tokens have the audience
// clientID. Its RSA-2048 signing key is read from <dataDir>/dev-oidc-key.pem,
// or created there (mode 0600) on first use, so tokens survive restarts.
func NewDevIssuer(dataDir, issuerURL, clientID string) (*DevIssuer, error) {
	u, err := url.Parse(issuerURL)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.RawQuery != "" || u.Fragment != "" {
		return nil, fmt.Errorf("dev issuer: issuer URL %q is not an absolute http(s) URL without query", issuerURL)
	}
	if strings.TrimSpace(clientID) == "" {
		return nil, errors.New("dev issuer: client id is required")
	}
	if dataDir == "" {
		return nil, errors.New("dev issuer: data directory is required (it holds the signing key)")
	}
	keyPath := filepath.Join(dataDir, DevKeyFile)
	key, err := loadOrCreateKey(dataDir, keyPath)
	if err != nil {
		return nil, err
	}
	tp, err := (&jose.JSONWebKey{Key: &key.PublicKey}).Thumbprint(crypto.SHA256)
	if err != nil {
		return nil, fmt.Errorf("dev issuer: key thumbprint: %w", err)
	}
	kid := base64.RawURLEncoding.EncodeToString(tp)
	signer, err := jose.NewSigner(
		jose.SigningKey{Algorithm: jose.RS256, Key: jose.JSONWebKey{Key: key, KeyID: kid, Algorithm: string(jose.RS256)}},
		(&jose.SignerOptions{}).WithType("JWT"))
	if err != nil {
		return nil, fmt.Errorf("dev issuer: signer: %w", err)
	}
	return &DevIssuer{
		issuer:   issuerURL,
		clientID: clientID,
		prefix:   strings.TrimSuffix(u.Path, "/"),
		keyPath:  keyPath,
		key:      key,
		kid:      kid,
		signer:   signer,
		now:      time.Now,
	}, nil
}

// Issuer is the issuer URL (the tokens' iss).
func (d *DevIssuer) Issuer() string { return d.issuer }

// ClientID is the tokens' audience.
func (d *DevIssuer) ClientID() string { return d.clientID }

// KeyID is the signing key's id: its RFC 7638 thumbprint (SHA-256).
func (d *DevIssuer) KeyID() string { return d.kid }

// KeyPath is the file holding the signing key.
func (d *DevIssuer) KeyPath() string { return d.keyPath }

// Mint returns a signed token for id, valid for ttl (DevTokenTTL if ttl <= 0).
// The subject defaults to DevSubject(id.Name), the email to
// <name>@example.com; roles are included when there are any. Expiry in id is
// ignored.
func (d *DevIssuer) Mint(id Identity, ttl time.Duration) (string, error) {
	if ttl <= 0 {
		ttl = DevTokenTTL
	}
	sub := id.Subject
	if sub == "" {
		if id.Name == "" {
			return "", errors.New("dev issuer: mint: a name or a subject is required")
		}
		sub = DevSubject(id.Name)
	}
	email := id.Email
	if email == "" && id.Name != "" {
		email = id.Name + "@example.com"
	}
	now := d.now()
	claims := map[string]any{
		"iss":                d.issuer,
		"aud":                d.clientID,
		"sub":                sub,
		"name":               id.Name,
		"preferred_username": id.Name,
		"email":              email,
		"iat":                now.Unix(),
		"nbf":                now.Unix(),
		"exp":                now.Add(ttl).Unix(),
	}
	// No groups named: no groups claim, so a login keeps the user's groups
	// (a token with "groups": [] would empty them).
	if id.Groups != nil {
		claims["groups"] = id.Groups
	}
	if len(id.Roles) > 0 {
		claims["roles"] = id.Roles
	}
	if id.EmailUnverified {
		claims["email_verified"] = false
	}
	tok, err := jwt.Signed(d.signer).Claims(claims).Serialize()
	if err != nil {
		return "", fmt.Errorf("dev issuer: sign: %w", err)
	}
	return tok, nil
}

// Handler serves, relative to the issuer URL's path (so mounted with that
// prefix stripped; unstripped paths work too):
//
//	GET  /.well-known/openid-configuration  discovery
//	GET  /jwks                              the public key (JWK set)
//	GET  /authorize                         login page (authorization code +
//	                                        PKCE S256): the listed users, or
//	                                        any name typed in
//	POST /authorize                         the user picked: 303 to the
//	                                        redirect URI with code and state
//	POST /token                             mint a token: form or JSON fields
//	                                        user (required), groups (comma-
//	                                        separated, or a JSON array), email;
//	                                        or grant_type=authorization_code
//	                                        with code, redirect_uri and
//	                                        code_verifier
//
// The token endpoint answers {"access_token", "id_token", "token_type":
// "Bearer", "expires_in"}; both tokens are the same JWT. Errors have the API's
// {"code", "message", "details"} shape.
func (d *DevIssuer) Handler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p := r.URL.Path
		if d.prefix != "" && strings.HasPrefix(p, d.prefix+"/") {
			p = strings.TrimPrefix(p, d.prefix)
		}
		switch p {
		case "/.well-known/openid-configuration":
			if methodIs(w, r, http.MethodGet, http.MethodHead) {
				d.serveDiscovery(w)
			}
		case "/jwks":
			if methodIs(w, r, http.MethodGet, http.MethodHead) {
				d.serveJWKS(w)
			}
		case "/authorize":
			if methodIs(w, r, http.MethodGet, http.MethodPost) {
				d.serveAuthorize(w, r)
			}
		case "/token":
			if methodIs(w, r, http.MethodPost) {
				d.serveToken(w, r)
			}
		default:
			writeError(w, http.StatusNotFound, "not_found", "the dev issuer serves /.well-known/openid-configuration, /jwks, /authorize and /token", nil)
		}
	})
}

func methodIs(w http.ResponseWriter, r *http.Request, methods ...string) bool {
	if slices.Contains(methods, r.Method) {
		return true
	}
	w.Header().Set("Allow", strings.Join(methods, ", "))
	writeError(w, http.StatusMethodNotAllowed, "method_not_allowed",
		fmt.Sprintf("use %s", strings.Join(methods, " or ")), nil)
	return false
}

func (d *DevIssuer) serveDiscovery(w http.ResponseWriter) {
	writeJSON(w, http.StatusOK, map[string]any{
		"issuer":                                d.issuer,
		"jwks_uri":                              d.issuer + "/jwks",
		"authorization_endpoint":                d.issuer + "/authorize",
		"token_endpoint":                        d.issuer + "/token",
		"response_types_supported":              []string{"code", "id_token"},
		"grant_types_supported":                 []string{"authorization_code"},
		"code_challenge_methods_supported":      []string{"S256"},
		"subject_types_supported":               []string{"public"},
		"id_token_signing_alg_values_supported": []string{string(jose.RS256)},
		"token_endpoint_auth_methods_supported": []string{"none"},
		"scopes_supported":                      []string{"openid", "profile", "email"},
		"claims_supported": []string{"iss", "aud", "sub", "iat", "nbf", "exp",
			"name", "preferred_username", "email", "groups", "roles"},
	})
}

func (d *DevIssuer) serveJWKS(w http.ResponseWriter) {
	set := jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{
		Key: &d.key.PublicKey, KeyID: d.kid, Algorithm: string(jose.RS256), Use: "sig",
	}}}
	writeJSON(w, http.StatusOK, set)
}

type devTokenRequest struct {
	User   string     `json:"user"`
	Groups stringList `json:"groups"`
	Email  string     `json:"email"`
}

// stringList is a JSON array of strings or one comma-separated string.
type stringList []string

func (l *stringList) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err == nil {
		*l = strings.Split(s, ",")
		return nil
	}
	var a []string
	if err := json.Unmarshal(b, &a); err != nil {
		return errors.New("groups must be a string or an array of strings")
	}
	*l = a
	return nil
}

func (d *DevIssuer) serveToken(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, devMaxBody)
	req, status, err := parseTokenRequest(r)
	if err != nil {
		code := "invalid_request"
		if status == http.StatusRequestEntityTooLarge {
			code = "body_too_large"
		} else if status == http.StatusUnsupportedMediaType {
			code = "unsupported_media_type"
		}
		writeError(w, status, code, err.Error(), nil)
		return
	}
	switch gt := r.PostForm.Get("grant_type"); gt {
	case "":
	case "authorization_code":
		d.exchangeCode(w, r)
		return
	default:
		writeError(w, http.StatusBadRequest, "unsupported_grant_type", "grant_type is authorization_code, or absent to mint for a named user", nil)
		return
	}
	user := strings.TrimSpace(req.User)
	if msg := checkName(user); msg != "" {
		writeError(w, http.StatusBadRequest, "invalid_request", "user "+msg, map[string]any{"field": "user"})
		return
	}
	var groups []string
	for _, g := range req.Groups {
		for g := range strings.SplitSeq(g, ",") {
			if g = strings.TrimSpace(g); g == "" || slices.Contains(groups, g) {
				continue
			}
			if msg := checkName(g); msg != "" {
				writeError(w, http.StatusBadRequest, "invalid_request", "group "+msg, map[string]any{"field": "groups"})
				return
			}
			groups = append(groups, g)
		}
	}
	if len(groups) > devMaxGroups {
		writeError(w, http.StatusBadRequest, "invalid_request",
			fmt.Sprintf("at most %d groups", devMaxGroups), map[string]any{"field": "groups"})
		return
	}
	email := strings.TrimSpace(req.Email)
	if email != "" && (!strings.Contains(email, "@") || strings.ContainsFunc(email, unicode.IsSpace) || len(email) > 254) {
		writeError(w, http.StatusBadRequest, "invalid_request", "email is not an email address", map[string]any{"field": "email"})
		return
	}
	tok, err := d.Mint(Identity{Name: user, Email: email, Groups: groups}, DevTokenTTL)
	if err != nil {
		writeError(w, http.StatusInternalServerError, "internal", "the token could not be signed", nil)
		return
	}
	w.Header().Set("Pragma", "no-cache")
	writeJSON(w, http.StatusOK, devTokenResponse{
		AccessToken: tok,
		IDToken:     tok,
		TokenType:   "Bearer",
		ExpiresIn:   int(DevTokenTTL / time.Second),
	})
}

type devTokenResponse struct {
	AccessToken string `json:"access_token"`
	IDToken     string `json:"id_token"`
	TokenType   string `json:"token_type"`
	ExpiresIn   int    `json:"expires_in"`
}

func parseTokenRequest(r *http.Request) (devTokenRequest, int, error) {
	var req devTokenRequest
	ct := r.Header.Get("Content-Type")
	mt := ""
	if ct != "" {
		var err error
		if mt, _, err = mime.ParseMediaType(ct); err != nil {
			return req, http.StatusUnsupportedMediaType, fmt.Errorf("bad Content-Type %q", ct)
		}
	}
	tooLarge := func(err error) (devTokenRequest, int, error) {
		if _, ok := errors.AsType[*http.MaxBytesError](err); ok {
			return req, http.StatusRequestEntityTooLarge, fmt.Errorf("the body is larger than %d bytes", devMaxBody)
		}
		return req, http.StatusBadRequest, err
	}
	switch mt {
	case "application/json":
		dec := json.NewDecoder(r.Body)
		dec.DisallowUnknownFields()
		if err := dec.Decode(&req); err != nil {
			return tooLarge(fmt.Errorf("the body is not the expected JSON object: %w", err))
		}
		if dec.More() {
			return req, http.StatusBadRequest, errors.New("the body holds more than one JSON value")
		}
		return req, 0, nil
	case "", "application/x-www-form-urlencoded", "multipart/form-data":
		var err error
		if mt == "multipart/form-data" {
			err = r.ParseMultipartForm(devMaxBody)
		} else {
			err = r.ParseForm()
		}
		if err != nil {
			return tooLarge(fmt.Errorf("the form could not be parsed: %w", err))
		}
		req.User = r.PostFormValue("user")
		req.Email = r.PostFormValue("email")
		req.Groups = r.PostForm["groups"]
		return req, 0, nil
	}
	return req, http.StatusUnsupportedMediaType, fmt.Errorf("send a form or JSON, not %s", mt)
}

// checkName returns what is wrong with a user or group name, or "".
func checkName(s string) string {
	switch {
	case s == "":
		return "is required"
	case !utf8.ValidString(s):
		return "is not valid UTF-8"
	case utf8.RuneCountInString(s) > devMaxNameRunes:
		return fmt.Sprintf("is longer than %d characters", devMaxNameRunes)
	case strings.ContainsFunc(s, unicode.IsControl):
		return "contains control characters"
	}
	return ""
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func writeError(w http.ResponseWriter, status int, code, msg string, details map[string]any) {
	body := map[string]any{"code": code, "message": msg}
	if details != nil {
		body["details"] = details
	}
	writeJSON(w, status, body)
}

// loadOrCreateKey reads the PEM RSA key at keyPath, creating it first if
// there is none. Every error names the path.
func loadOrCreateKey(dataDir, keyPath string) (*rsa.PrivateKey, error) {
	b, err := os.ReadFile(keyPath)
	if err == nil {
		return parseKey(keyPath, b)
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("dev issuer: cannot read the signing key %s: %w", keyPath, err)
	}
	if err := os.MkdirAll(dataDir, 0o700); err != nil {
		return nil, fmt.Errorf("dev issuer: cannot create the signing key %s: %w", keyPath, err)
	}
	key, err := rsa.GenerateKey(rand.Reader, devKeyBits)
	if err != nil {
		return nil, fmt.Errorf("dev issuer: generate the signing key: %w", err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, fmt.Errorf("dev issuer: encode the signing key: %w", err)
	}
	data := pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})
	// O_EXCL: never overwrite a key another process has just written.
	f, err := os.OpenFile(keyPath, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, fs.ErrExist) {
		return loadOrCreateKey(dataDir, keyPath)
	}
	if err != nil {
		return nil, fmt.Errorf("dev issuer: cannot write the signing key %s: %w", keyPath, err)
	}
	_, err = f.Write(data)
	if serr := f.Sync(); err == nil {
		err = serr
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		_ = os.Remove(keyPath)
		return nil, fmt.Errorf("dev issuer: cannot write the signing key %s: %w", keyPath, err)
	}
	return key, nil
}

func parseKey(keyPath string, b []byte) (*rsa.PrivateKey, error) {
	block, _ := pem.Decode(b)
	if block == nil {
		return nil, fmt.Errorf("dev issuer: %s holds no PEM block (delete it to get a new key)", keyPath)
	}
	var parsed any
	var err error
	switch block.Type {
	case "PRIVATE KEY":
		parsed, err = x509.ParsePKCS8PrivateKey(block.Bytes)
	case "RSA PRIVATE KEY":
		parsed, err = x509.ParsePKCS1PrivateKey(block.Bytes)
	default:
		err = fmt.Errorf("PEM block type %q is not a private key", block.Type)
	}
	if err != nil {
		return nil, fmt.Errorf("dev issuer: signing key %s: %w", keyPath, err)
	}
	key, ok := parsed.(*rsa.PrivateKey)
	if !ok {
		return nil, fmt.Errorf("dev issuer: signing key %s is a %T, not an RSA key", keyPath, parsed)
	}
	if key.N.BitLen() < devKeyBits {
		return nil, fmt.Errorf("dev issuer: signing key %s has %d bits, fewer than %d", keyPath, key.N.BitLen(), devKeyBits)
	}
	return key, nil
}
