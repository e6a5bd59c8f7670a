// Package idempotency implements the Idempotency-Key header on POSTs: the
// same key with the same body within 24 hours answers what the first
// request answered (without running it again), the same key with another
// body is 422, and a key whose first request still runs is 409. The record
// lives in the database under a unique key, so it holds across replicas.
//
// A request that fails with a 5xx (or whose replica stops before it
// answers) leaves its key to the next attempt, which runs the request again
// — safely: the document a create makes under a key has an id derived from
// the key (store.Idempotent.SeededID), so a create that the failed attempt
// did apply is found by the retry and answered (201, the stored record),
// never made twice. A key whose request still runs is held for Lease.
//
// An answer that must be given once only is not kept: the replay of an
// API key's creation is 409 idempotent_replay_secret_withheld, naming the
// key (its secret was in the first answer and is stored only hashed), and
// so is a retry that finds the key its lost first attempt made (ReplayAs).
package idempotency

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"math"
	"net/http"
	"strconv"
	"time"
	"unicode"

	"github.com/gofiber/fiber/v3"

	"github.com/rulekeeper/rulekeeper/resources/apierror"
	"github.com/rulekeeper/rulekeeper/resources/store"
)

// Header is the request header that carries the key.
const Header = "Idempotency-Key"

// MaxKeyLength is the longest key accepted.
const MaxKeyLength = 255

// CallerFunc names who is calling (keys are scoped to a caller).
type CallerFunc func(c fiber.Ctx) string

// DefaultLease is how long a running request holds its key when the
// server names no lease: past the write deadline, a request that has not
// answered never will.
const DefaultLease = 6 * time.Second

type retriedKey struct{}

type replayKey struct{}

// ReplayAs makes err what later requests with the request's
// Idempotency-Key are answered, instead of the request's own answer: for
// an answer that must be given once only (an API key's secret). The
// request itself is answered as usual.
func ReplayAs(c fiber.Ctx, err *apierror.Error) { c.Locals(replayKey{}, err) }

// Retried reports whether the request of c is a later attempt of a key
// whose earlier attempt ended without an answer: a create that finds what
// it was asked to make (a member, an assignment) may then answer it as
// made.
func Retried(c fiber.Ctx) bool {
	r, _ := c.Locals(retriedKey{}).(bool)
	return r
}

// Middleware applies Idempotency-Key to the POSTs of the routes after it;
// a request holds its key for lease (0: DefaultLease) while it runs.
func Middleware(s *store.Store, caller CallerFunc, lease time.Duration) fiber.Handler {
	repo := s.Idempotency()
	if lease <= 0 {
		lease = DefaultLease
	}
	return func(c fiber.Ctx) error {
		key := c.Get(Header)
		if key == "" || c.Method() != fiber.MethodPost {
			return c.Next()
		}
		if err := CheckKey(key); err != nil {
			return err
		}
		h := sha256.New()
		for _, part := range []string{caller(c), c.Method(), c.Path(), key} {
			h.Write([]byte(part))
			h.Write([]byte{0})
		}
		id := hex.EncodeToString(h.Sum(nil))
		sum := sha256.Sum256(c.Body())
		bodyHash := hex.EncodeToString(sum[:])
		rec, owned, err := repo.Begin(c.Context(), id, bodyHash, time.Now(), lease)
		if err != nil {
			return err
		}
		if !owned {
			old := rec
			switch {
			case old.BodyHash != bodyHash:
				return apierror.New(http.StatusUnprocessableEntity, "idempotency_key_reused",
					"this Idempotency-Key was used with another request body", map[string]any{"header": Header})
			case !old.Done:
				c.Set(fiber.HeaderRetryAfter, strconv.Itoa(max(1, int(math.Ceil(time.Until(old.LeaseUntil).Seconds())))))
				return apierror.New(http.StatusConflict, "idempotency_key_in_use",
					"the first request with this Idempotency-Key is still running; retry later", map[string]any{"header": Header})
			}
			c.Set("Idempotent-Replayed", "true")
			if old.ContentType != "" {
				c.Set(fiber.HeaderContentType, old.ContentType)
			}
			return c.Status(old.Status).Send(old.Body)
		}
		c.SetContext(store.WithSeededID(c.Context(), rec.SeededID()))
		if rec.Attempt > 1 {
			c.Locals(retriedKey{}, true)
		}
		err = c.Next()
		status, ctype, body := c.Response().StatusCode(), string(c.Response().Header.ContentType()), c.Response().Body()
		if err != nil {
			e := apierror.From(err)
			status, ctype = e.Status, fiber.MIMEApplicationJSON
			body, _ = json.Marshal(e)
		}
		if status >= 500 {
			repo.Release(c.Context(), id)
			return err
		}
		if e, ok := c.Locals(replayKey{}).(*apierror.Error); ok && e != nil {
			status, ctype = e.Status, fiber.MIMEApplicationJSON
			body, _ = json.Marshal(e)
		}
		if ferr := repo.Finish(c.Context(), id, status, ctype, append([]byte(nil), body...)); ferr != nil && err == nil {
			return ferr
		}
		return err
	}
}

// CheckKey refuses keys that are empty, too long or not printable ASCII.
func CheckKey(key string) error {
	if len(key) > MaxKeyLength {
		return apierror.Field("bad_idempotency_key", Header, "the Idempotency-Key is at most 255 characters")
	}
	for _, r := range key {
		if r > unicode.MaxASCII || !unicode.IsPrint(r) {
			return apierror.Field("bad_idempotency_key", Header, "the Idempotency-Key is printable ASCII")
		}
	}
	return nil
}
