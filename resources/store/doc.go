// Package store keeps rulekeeper's resources in MongoDB through the official
// driver (go.mongodb.org/mongo-driver/v2).
//
// One implementation serves two servers: a real MongoDB named by a URI, and
// the embedded FerretDB (a MongoDB wire-protocol server on SQLite) that
// StartEmbedded runs inside the process when no URI is given. The embedded
// server has no multi-document transactions, no change streams and no
// $elemMatch on sub-documents, so the data is modelled for single-document
// atomic writes: a space keeps a flat memberIds array beside its member
// documents, concurrent edits use a version field (compare-and-swap), and
// uniqueness comes from unique indexes, never from a read-then-write.
//
// Repositories return ErrNotFound and ErrConflict (wrapped with context) so
// the HTTP layer can map them to status codes in one place.
package store
