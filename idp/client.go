package idp

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// FetchDevToken asks the dev issuer of the rulekeeper server at serverURL
// (running with --dev) for a token for user, with the given groups and email
// (default <user>@example.com), by POSTing to <serverURL>/dev/oidc/token. It
// returns the access token.
func FetchDevToken(ctx context.Context, serverURL, user string, groups []string, email string) (string, error) {
	if strings.TrimSpace(user) == "" {
		return "", errors.New("a user name is required")
	}
	base := strings.TrimRight(strings.TrimSpace(serverURL), "/")
	if u, err := url.Parse(base); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return "", fmt.Errorf("server URL %q is not an absolute http(s) URL", serverURL)
	}
	endpoint := base + DevMountPath + "/token"
	if groups == nil {
		groups = []string{}
	}
	body, err := json.Marshal(devTokenRequest{User: user, Groups: groups, Email: email})
	if err != nil {
		return "", err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, endpoint, bytes.NewReader(body))
	if err != nil {
		return "", err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json")
	resp, err := (&http.Client{Timeout: 30 * time.Second}).Do(req)
	if err != nil {
		return "", fmt.Errorf("cannot reach %s (is `rulekeeper serve --dev` running there?): %w", base, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return "", fmt.Errorf("read the answer of %s: %w", endpoint, err)
	}
	if resp.StatusCode == http.StatusNotFound {
		return "", fmt.Errorf("%s answered 404: the server does not run in dev mode (serve --dev)", endpoint)
	}
	if resp.StatusCode != http.StatusOK {
		var e struct {
			Code    string `json:"code"`
			Message string `json:"message"`
		}
		msg := strings.TrimSpace(string(b))
		if json.Unmarshal(b, &e) == nil && e.Message != "" {
			msg = e.Message
		}
		if len(msg) > 300 {
			msg = msg[:300] + "…"
		}
		return "", fmt.Errorf("%s answered %s: %s", endpoint, resp.Status, msg)
	}
	var tr devTokenResponse
	if err := json.Unmarshal(b, &tr); err != nil || tr.AccessToken == "" {
		return "", fmt.Errorf("%s answered without an access token", endpoint)
	}
	return tr.AccessToken, nil
}
