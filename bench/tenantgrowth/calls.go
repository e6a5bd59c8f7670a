package main

import (
	"context"
	"log/slog"
	"sync"
)

// requestLog is the service's logger in the bench: it keeps the database
// figures of the last request's log line (dbCommands, dbDocs and, at debug
// level, dbTrace), which the server writes before it answers, so the
// request just timed is the last one logged.
type requestLog struct {
	trace bool
	mu    sync.Mutex
	last  calls
}

// calls are the database figures of one request.
type calls struct {
	Commands, Docs int64
	Scans          []string // collections read with a filter not pushed down
	Trace          []string
}

func (l *requestLog) Enabled(_ context.Context, lv slog.Level) bool {
	return lv >= slog.LevelInfo || l.trace
}

func (l *requestLog) Handle(_ context.Context, r slog.Record) error {
	if r.Message != "http" {
		return nil
	}
	var c calls
	r.Attrs(func(a slog.Attr) bool {
		switch a.Key {
		case "dbCommands":
			c.Commands = a.Value.Int64()
		case "dbDocs":
			c.Docs = a.Value.Int64()
		case "dbScans":
			c.Scans, _ = a.Value.Any().([]string)
		case "dbTrace":
			c.Trace, _ = a.Value.Any().([]string)
		}
		return true
	})
	l.mu.Lock()
	l.last = c
	l.mu.Unlock()
	return nil
}

func (l *requestLog) WithAttrs([]slog.Attr) slog.Handler { return l }
func (l *requestLog) WithGroup(string) slog.Handler      { return l }

// Last returns the figures of the last request logged.
func (l *requestLog) Last() calls {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.last
}
