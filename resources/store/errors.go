package store

import (
	"context"
	"errors"
	"strings"

	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/x/mongo/driver/topology"
)

// Sentinel errors. Repositories wrap them with context; test with errors.Is.
var (
	// ErrNotFound means the document asked for does not exist.
	ErrNotFound = errors.New("not found")
	// ErrConflict means a unique index refused the write or a version
	// check failed because somebody else changed the document first.
	ErrConflict = errors.New("conflict")
)

// Unavailable reports whether err means the database did not answer in
// time or could not be reached (a paused or stopped server, a network
// failure, a request deadline that ran out while waiting for it, a lock
// still held when the deadline came): the request may succeed when retried.
func Unavailable(err error) bool {
	return err != nil && (errors.Is(err, context.DeadlineExceeded) || errors.Is(err, ErrLockTimeout) ||
		mongo.IsTimeout(err) || mongo.IsNetworkError(err) || errors.As(err, new(topology.ServerSelectionError)))
}

// MapErr turns driver errors into the sentinels above and leaves others as
// they are.
func MapErr(err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, mongo.ErrNoDocuments):
		return ErrNotFound
	case mongo.IsDuplicateKeyError(err):
		return ErrConflict
	case strings.Contains(err.Error(), "UNIQUE constraint failed"):
		// FerretDB v1.24 on SQLite reports a unique index violated by an
		// update as an InternalError carrying SQLite's message, not E11000.
		return ErrConflict
	}
	return err
}
