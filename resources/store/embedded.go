package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"

	"github.com/FerretDB/FerretDB/ferretdb"
	_ "modernc.org/sqlite" // the driver FerretDB's SQLite handler uses, for IndexIDs
)

// Embedded is a FerretDB server running inside this process on a loopback
// port, storing its data as SQLite files in a directory.
type Embedded struct {
	uri    string
	dir    string
	cancel context.CancelFunc
	done   chan struct{}
}

// StartEmbedded starts FerretDB with the SQLite handler on 127.0.0.1 with a
// free port, keeping its files in dir (created when missing). FerretDB's own
// logs go to logger, which should be at warn level or quieter.
func StartEmbedded(ctx context.Context, dir string, logger *slog.Logger) (*Embedded, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("data dir %q: %w", dir, err)
	}
	if err := CheckWritableDir(abs); err != nil {
		return nil, err
	}
	f, err := ferretdb.New(&ferretdb.Config{
		Listener:  ferretdb.ListenerConfig{TCP: "127.0.0.1:0"},
		Handler:   "sqlite",
		SQLiteURL: "file:" + abs + "/",
		Logger:    logger,
	})
	if err != nil {
		return nil, fmt.Errorf("start embedded FerretDB in %s: %w", abs, err)
	}
	runCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	e := &Embedded{uri: f.MongoDBURI(), dir: abs, cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(e.done)
		_ = f.Run(runCtx)
	}()
	return e, nil
}

// IndexIDs creates, on every collection table of database dbName, the
// SQLite index that FerretDB v1.24's own lookups by _id can use. FerretDB
// queries `WHERE _ferretdb_sjson->'$._id' = ?` but indexes
// `_ferretdb_sjson->"_id"`, an expression SQLite does not see as the same,
// so without this every lookup by _id scans its table. Call it after the
// collections exist (Store.EnsureIndexes); it is idempotent.
func (e *Embedded) IndexIDs(ctx context.Context, dbName string) error {
	return IndexSQLiteIDs(ctx, filepath.Join(e.dir, dbName+".sqlite"))
}

// IndexSQLiteIDs is IndexIDs on the SQLite file of one FerretDB database.
func IndexSQLiteIDs(ctx context.Context, file string) error {
	db, err := sql.Open("sqlite", "file:"+file+"?_pragma=busy_timeout(10000)")
	if err != nil {
		return fmt.Errorf("open %s: %w", file, err)
	}
	defer db.Close()
	rows, err := db.QueryContext(ctx, `SELECT table_name FROM "_ferretdb_collections"`)
	if err != nil {
		return fmt.Errorf("list the collection tables of %s: %w", file, err)
	}
	var tables []string
	for rows.Next() {
		var t string
		if err := rows.Scan(&t); err != nil {
			rows.Close()
			return err
		}
		tables = append(tables, t)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}
	for _, t := range tables {
		q := fmt.Sprintf(`CREATE INDEX IF NOT EXISTS %q ON %q (%s)`, t+"_rk_id", t, sqliteIDExpr)
		if _, err := db.ExecContext(ctx, q); err != nil {
			return fmt.Errorf("index _id of %s: %w", t, err)
		}
	}
	return nil
}

// sqliteIDExpr is the _id expression of FerretDB v1.24's SQLite queries.
const sqliteIDExpr = `_ferretdb_sjson->'$._id'`

// URI is the mongodb:// address of the embedded server.
func (e *Embedded) URI() string { return e.uri }

// Close stops the server and waits until its SQLite files are closed.
func (e *Embedded) Close() {
	e.cancel()
	<-e.done
}

// CheckWritableDir creates dir when missing and proves a file can be written
// there, so a bad data dir fails at start with its path in the message.
func CheckWritableDir(dir string) error {
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return fmt.Errorf("data dir %s cannot be created: %w", dir, err)
	}
	probe, err := os.CreateTemp(dir, ".write-probe-*")
	if err != nil {
		return fmt.Errorf("data dir %s is not writable: %w", dir, errors.Unwrap(err))
	}
	name := probe.Name()
	_ = probe.Close()
	return os.Remove(name)
}
