package identity

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"time"

	"github.com/rulekeeper/rulekeeper/idp"
)

// Refusal log limits: at most refusalBurst lines per refusalWindow; the
// lines left out are counted in the next one.
const (
	refusalBurst  = 20
	refusalWindow = 10 * time.Second
)

// refusalLog logs refused tokens at info: the code and the reason, never
// the token, at a bounded rate so that a flood of bad tokens cannot flood
// the log.
type refusalLog struct {
	logger *slog.Logger
	now    func() time.Time

	mu         sync.Mutex
	start      time.Time
	n          int
	suppressed int
}

func newRefusalLog(l *slog.Logger) *refusalLog { return &refusalLog{logger: l, now: time.Now} }

func (r *refusalLog) log(ctx context.Context, err error) {
	r.mu.Lock()
	now := r.now()
	if now.Sub(r.start) >= refusalWindow {
		r.start, r.n = now, 0
	}
	if r.n >= refusalBurst {
		r.suppressed++
		r.mu.Unlock()
		return
	}
	r.n++
	suppressed := r.suppressed
	r.suppressed = 0
	r.mu.Unlock()

	code, reason := "token_invalid", "the token could not be verified"
	var ie *idp.Error
	if errors.As(err, &ie) {
		code, reason = ie.Code, ie.Message
	}
	attrs := []any{"code", code, "reason", reason}
	if suppressed > 0 {
		attrs = append(attrs, "suppressed", suppressed)
	}
	r.logger.InfoContext(ctx, "token refused", attrs...)
}
