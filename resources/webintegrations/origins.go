package webintegrations

import (
	"fmt"
	"net"
	"net/url"
	"strconv"
	"strings"
)

// NormalizeOrigin checks that s is a browser origin, scheme://host[:port]
// with scheme http or https and nothing else (no path, not even "/", no
// query, fragment, user info or wildcard), and returns it the way browsers
// send it in the Origin header: lower case, without the scheme's default
// port.
func NormalizeOrigin(s string) (string, error) {
	if s == "" {
		return "", fmt.Errorf("an origin is scheme://host[:port], e.g. https://example.com")
	}
	if strings.ContainsAny(s, "*?#@\\ \t\r\n") {
		return "", fmt.Errorf("origin %q: only scheme://host[:port], no wildcards, spaces, user info, query or fragment", s)
	}
	scheme, rest, ok := strings.Cut(s, "://")
	scheme = strings.ToLower(scheme)
	if !ok || (scheme != "http" && scheme != "https") {
		return "", fmt.Errorf("origin %q: the scheme is http or https, as in https://example.com", s)
	}
	if strings.Contains(rest, "/") {
		return "", fmt.Errorf("origin %q: an origin has no path, not even a trailing slash", s)
	}
	u, err := url.Parse(scheme + "://" + rest)
	if err != nil || u.Host != rest || u.Opaque != "" {
		return "", fmt.Errorf("origin %q is not scheme://host[:port]", s)
	}
	host, port := strings.ToLower(u.Hostname()), u.Port()
	if strings.HasSuffix(rest, ":") {
		return "", fmt.Errorf("origin %q: the port is empty", s)
	}
	if !validHost(host) {
		return "", fmt.Errorf("origin %q: %q is not a host name or IP address", s, host)
	}
	if port != "" {
		n, err := strconv.Atoi(port)
		if err != nil || n < 1 || n > 65535 || port[0] == '0' {
			return "", fmt.Errorf("origin %q: the port is a number from 1 to 65535", s)
		}
		if (scheme == "https" && n == 443) || (scheme == "http" && n == 80) {
			port = ""
		}
	}
	if strings.Contains(host, ":") { // IPv6
		host = "[" + host + "]"
	}
	if port != "" {
		host += ":" + port
	}
	return scheme + "://" + host, nil
}

// validHost accepts an IP address or a DNS name of letters, digits and
// hyphens in dot-separated labels.
func validHost(h string) bool {
	if h == "" || len(h) > 253 {
		return false
	}
	if ip := net.ParseIP(h); ip != nil {
		return true
	}
	for _, label := range strings.Split(h, ".") {
		if label == "" || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return false
		}
		for _, r := range label {
			if !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '-') {
				return false
			}
		}
	}
	return true
}
