// Package store keeps rulekeeper's resources in MongoDB through the official
// driver (go.mongodb.org/mongo-driver/v2).
//
// One implementation serves two servers: a real MongoDB named by a URI, and
// the embedded FerretDB (a MongoDB wire-protocol server on SQLite) that
// resources/store/embedded runs inside the process when no URI is given. The embedded
// server has no multi-document transactions, no change streams and no
// $elemMatch on sub-documents, so the data is modelled for single-document
// atomic writes: a space keeps a flat memberIds array beside its member
// documents, concurrent edits use a version field (compare-and-swap), and
// uniqueness comes from unique indexes, never from a read-then-write.
//
// With no change streams, in-memory snapshots of whole areas (the user and
// space indexes, the license state) learn of other replicas' writes from
// revision counters: the repositories of users, groups, spaces, license
// keys, assignments and capacity minutes bump their area's counter
// (Revisions, one document per area) after every successful write, and a
// Snapshot reads the counters (point lookups by _id, the one query the
// embedded server answers without decoding the collection) and rebuilds
// only when one moved.
//
// Repositories return ErrNotFound and ErrConflict (wrapped with context) so
// the HTTP layer can map them to status codes in one place.
package store
