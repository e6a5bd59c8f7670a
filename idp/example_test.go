package idp_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"

	"github.com/rulekeeper/rulekeeper/idp"
)

// A verifier for a real identity provider: ID tokens of the console's
// client, JWT access tokens for the API audience, opaque access tokens
// through introspection. Nothing is fetched until the first Verify; an
// *idp.Error tells 401 from 503.
func ExampleVerifier() {
	v, err := idp.NewVerifier(idp.Config{
		IssuerURL:                 "https://login.example.com/realms/acme",
		ClientID:                  "rulekeeper",
		Audiences:                 []string{"https://rulekeeper.example.com"},
		IntrospectionClientID:     "rulekeeper-introspect",
		IntrospectionClientSecret: os.Getenv("INTROSPECTION_SECRET"),
		Claims:                    idp.ClaimNames{Groups: "groups", Roles: "realm_access.roles"},
	})
	if err != nil {
		panic(err)
	}
	handler := func(w http.ResponseWriter, r *http.Request) {
		raw, _ := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		id, err := v.Verify(r.Context(), raw)
		var ie *idp.Error
		if errors.As(err, &ie) {
			http.Error(w, ie.Message, ie.HTTPStatus()) // 503 for issuer_unavailable, else 401
			return
		}
		fmt.Fprintf(w, "hello %s (%s)", id.Name, id.Subject)
	}
	_ = handler
}

// The dev issuer mounted in a server at /dev/oidc and verified like any
// other issuer. The verifier is built before the server listens.
func ExampleDevIssuer() {
	dataDir, err := os.MkdirTemp("", "rulekeeper-example")
	if err != nil {
		panic(err)
	}
	defer os.RemoveAll(dataDir)

	srv := httptest.NewUnstartedServer(nil)
	issuerURL := "http://" + srv.Listener.Addr().String() + idp.DevMountPath
	dev, err := idp.NewDevIssuer(dataDir, issuerURL, "rulekeeper")
	if err != nil {
		panic(err)
	}
	verifier, err := idp.NewVerifier(idp.Config{IssuerURL: issuerURL, ClientID: "rulekeeper"})
	if err != nil {
		panic(err)
	}
	mux := http.NewServeMux()
	mux.Handle(idp.DevMountPath+"/", http.StripPrefix(idp.DevMountPath, dev.Handler()))
	srv.Config.Handler = mux
	srv.Start()
	defer srv.Close()

	// What `rulekeeper token --server URL --user alice --groups Sales,Finance` does.
	token, err := idp.FetchDevToken(context.Background(), srv.URL, "alice", []string{"Sales", "Finance"}, "")
	if err != nil {
		panic(err)
	}
	id, err := verifier.Verify(context.Background(), token)
	if err != nil {
		panic(err)
	}
	fmt.Println(id.Subject, id.Name, id.Email, id.Groups)

	// Tests can mint tokens directly.
	token, _ = dev.Mint(idp.Identity{Name: "bob", Roles: []string{"Developer"}}, 0)
	id, _ = verifier.Verify(context.Background(), token)
	fmt.Println(id.Subject, id.Email)
	// Output:
	// dev|alice alice alice@example.com [Sales Finance]
	// dev|bob bob@example.com
}
