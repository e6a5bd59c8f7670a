// Package embedded runs FerretDB inside the rulekeeper process (SQLite
// handler, files in the data directory): the database of `rulekeeper serve`
// when no --mongo-uri is given. Only the binary links it; the service gets
// it passed in (service.Config.Embedded), so that test binaries, which use
// FerretDB's server as a process (resources/ferretserver), do not.
package embedded

import (
	"context"
	"database/sql"
	"fmt"
	"log/slog"
	"path/filepath"

	"github.com/FerretDB/FerretDB/ferretdb"
	_ "modernc.org/sqlite" // the driver FerretDB's SQLite handler uses, for IndexIDs

	"github.com/rulekeeper/rulekeeper/resources/service"
	"github.com/rulekeeper/rulekeeper/resources/store"
)

// Server is a FerretDB server running inside this process on a loopback
// port, storing its data as SQLite files in a directory.
type Server struct {
	uri    string
	dir    string
	cancel context.CancelFunc
	done   chan struct{}
}

// Start starts FerretDB with the SQLite handler on 127.0.0.1 with a
// free port, keeping its files in dir (created when missing). FerretDB's own
// logs go to logger, which should be at warn level or quieter.
func Start(ctx context.Context, dir string, logger *slog.Logger) (*Server, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("data dir %q: %w", dir, err)
	}
	if err := store.CheckWritableDir(abs); err != nil {
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
	e := &Server{uri: f.MongoDBURI(), dir: abs, cancel: cancel, done: make(chan struct{})}
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
func (e *Server) IndexIDs(ctx context.Context, dbName string) error {
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
func (e *Server) URI() string { return e.uri }

// Close stops the server and waits until its SQLite files are closed.
func (e *Server) Close() {
	e.cancel()
	<-e.done
}

// Starter is Start as the service takes it (service.Config.Embedded).
func Starter(ctx context.Context, dir string, logger *slog.Logger) (service.EmbeddedDB, error) {
	s, err := Start(ctx, dir, logger)
	if err != nil {
		return nil, err // not a nil *Server in a non-nil interface
	}
	return s, nil
}
