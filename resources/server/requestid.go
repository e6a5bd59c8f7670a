package server

import (
	"crypto/rand"
	"encoding/hex"
	"strconv"
	"sync/atomic"

	"github.com/gofiber/fiber/v3"
)

// RequestIDs generates the ids of the requests that come without one
// (X-Request-ID): a random prefix drawn once per process (16 hex digits:
// two replicas do not share one) and a counter, as OPA's req_id and
// nginx's connection serials do. Against a random token per request it
// costs no read of the system's randomness, and it compresses: every
// logged decision carries the id, and in a batch of the mongo decision
// log random 43-character tokens were 37 % of the stored bytes. The
// counter says how many requests a replica has answered; nothing else.
func RequestIDs() func() string {
	ids := newRequestIDs()
	return func() string {
		var buf [40]byte
		return string(ids.append(buf[:0]))
	}
}

// requestIDs is RequestIDs' state: the prefix and the counter.
type requestIDs struct {
	prefix string
	n      atomic.Uint64
}

func newRequestIDs() *requestIDs {
	var b [8]byte
	_, _ = rand.Read(b[:]) // never fails (crypto/rand, Go ≥ 1.24)
	return &requestIDs{prefix: hex.EncodeToString(b[:]) + "-"}
}

// append appends the next id to dst.
func (r *requestIDs) append(dst []byte) []byte {
	return strconv.AppendUint(append(dst, r.prefix...), r.n.Add(1), 36)
}

// set gives the answer to c an X-Request-ID: the request's own when it
// sent a usable one (visible ASCII), else the next of r, written in buf
// (fasthttp copies it). The id is read back from the answer's header
// (c.GetRespHeader) by the access log, the error contract and the
// decision log. buf is part of the request's scope (frame): a generated
// id costs no allocation of its own, a request's own none either;
// Fiber's requestid middleware cost three (the string, and two to keep
// it in the request's locals).
func (r *requestIDs) set(c fiber.Ctx, buf *[40]byte) {
	res := &c.Response().Header
	if id := c.Request().Header.Peek(fiber.HeaderXRequestID); usableRequestID(id) {
		res.SetBytesV(fiber.HeaderXRequestID, id)
	} else {
		res.SetBytesV(fiber.HeaderXRequestID, r.append(buf[:0]))
	}
}

// usableRequestID reports whether a request's id is non-empty visible
// ASCII (spaces included), as Fiber's requestid middleware accepts.
func usableRequestID(id []byte) bool {
	if len(id) == 0 {
		return false
	}
	for _, c := range id {
		if c < 0x20 || c > 0x7e {
			return false
		}
	}
	return true
}
