package server_test

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"testing"

	"github.com/gofiber/fiber/v3"

	"github.com/rulekeeper/rulekeeper/resources/server"
)

// TestListenerServesKeepAliveConnections: requests one after another on one
// connection through server.Listener, each read after the previous answer
// (where its connections yield before reading), and requests pipelined in
// one write, are all answered, in order, with their own bodies.
func TestListenerServesKeepAliveConnections(t *testing.T) {
	app := fiber.New()
	app.Post("/echo", func(c fiber.Ctx) error { return c.Send(c.Body()) })
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = app.Listener(server.Listener(ln), fiber.ListenConfig{DisableStartupMessage: true}) }()
	defer func() { _ = app.Shutdown() }()
	conn, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	r := bufio.NewReader(conn)
	request := func(body string) string {
		return fmt.Sprintf("POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n%s", len(body), body)
	}
	answer := func(want string) {
		t.Helper()
		res, err := http.ReadResponse(r, nil)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(res.Body)
		res.Body.Close()
		if res.StatusCode != 200 || string(b) != want {
			t.Fatalf("answer %d %q, want 200 %q", res.StatusCode, b, want)
		}
	}
	for i := range 5 {
		body := fmt.Sprintf("request %d", i)
		if _, err := io.WriteString(conn, request(body)); err != nil {
			t.Fatal(err)
		}
		answer(body)
	}
	if _, err := io.WriteString(conn, request("first")+request("second")); err != nil {
		t.Fatal(err)
	}
	answer("first")
	answer("second")
}
