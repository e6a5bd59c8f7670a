package store

import (
	"context"
	"errors"
	"fmt"
	"io"
	"regexp"
	"strings"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
)

// Bundle is an uploaded extension or theme: metadata from its QEXT file,
// files in GridFS (seed 000 §1.6, §1.7, §8, §9).
type Bundle struct {
	ID string `bson:"_id" json:"id"`
	// QEXTFilename is the QEXT file's name without ".qext": the identifier
	// that must be unique (case-insensitively, through QEXTKey).
	QEXTFilename string `bson:"qextFilename" json:"qextFilename"`
	QEXTKey      string `bson:"qextKey" json:"-"`
	// Metadata read from the QEXT file.
	Name        string `bson:"name" json:"name"`
	Type        string `bson:"type" json:"type"`
	QEXTVersion string `bson:"qextVersion" json:"qextVersion"`
	Author      string `bson:"author" json:"author"`
	Description string `bson:"description" json:"description"`
	Icon        string `bson:"icon,omitempty" json:"icon,omitempty"`
	Preview     string `bson:"preview,omitempty" json:"preview,omitempty"`
	Homepage    string `bson:"homepage,omitempty" json:"homepage,omitempty"`
	License     string `bson:"license,omitempty" json:"license,omitempty"`
	Keywords    string `bson:"keywords,omitempty" json:"keywords,omitempty"`

	Tags  []string     `bson:"tags" json:"tags"`
	Files []BundleFile `bson:"files" json:"files"`

	CreatedBy string    `bson:"createdBy" json:"createdBy"`
	UpdatedBy string    `bson:"updatedBy" json:"updatedBy"`
	CreatedAt time.Time `bson:"createdAt" json:"createdAt"`
	// PublishedAt is when the current file set was uploaded (the console's
	// "Published" column); it changes when the files are replaced.
	PublishedAt time.Time `bson:"publishedAt" json:"publishedAt"`
	UpdatedAt   time.Time `bson:"updatedAt" json:"updatedAt"`
	Version     int64     `bson:"version" json:"version"`
}

// BundleFile is one file of a bundle, stored as one GridFS file.
type BundleFile struct {
	// Path is relative to the folder that holds the QEXT file, "/"-separated.
	Path        string        `bson:"path" json:"path"`
	Size        int64         `bson:"size" json:"size"`
	ContentType string        `bson:"contentType" json:"contentType"`
	FileID      bson.ObjectID `bson:"fileId" json:"-"`
}

// File returns the file with path, or nil.
func (b *Bundle) File(path string) *BundleFile {
	for i := range b.Files {
		if b.Files[i].Path == path {
			return &b.Files[i]
		}
	}
	return nil
}

// FileIDs lists the GridFS ids of the bundle's files.
func (b *Bundle) FileIDs() []bson.ObjectID {
	ids := make([]bson.ObjectID, len(b.Files))
	for i, f := range b.Files {
		ids[i] = f.FileID
	}
	return ids
}

// QEXTKey is the unique key of a QEXT file name: QEXT file names are unique
// per kind regardless of case.
func QEXTKey(filename string) string { return strings.ToLower(filename) }

// Bundles is the repository of extensions or of themes (one collection and
// one GridFS bucket each).
type Bundles struct {
	c  collection[Bundle]
	db *mongo.Database
	// bucket is the GridFS bucket name: files in <bucket>.files and
	// <bucket>.chunks.
	bucket string
}

func newBundles(db *mongo.Database, name string, locks *Locks) *Bundles {
	return &Bundles{c: collection[Bundle]{db.Collection(name), locks}, db: db, bucket: name}
}

// bundleIndexes: the two kinds of bundle each have a collection and a GridFS
// bucket of the same name.
func bundleIndexes() map[string][]mongo.IndexModel {
	all := map[string][]mongo.IndexModel{}
	for _, name := range []string{"extensions", "themes"} {
		// The QEXT file name is unique per kind (seed 000 §8.1, §9.1).
		all[name] = []mongo.IndexModel{
			unique(bson.D{{Key: "qextKey", Value: 1}}),
			plain(bson.D{{Key: "tags", Value: 1}}),
		}
		// The GridFS indexes the driver would create on a bucket's first
		// write; created here at start-up like every other index, so small
		// files written directly (see UploadFile) have them too.
		all[name+".files"] = []mongo.IndexModel{plain(bson.D{{Key: "filename", Value: 1}, {Key: "uploadDate", Value: 1}})}
		all[name+".chunks"] = []mongo.IndexModel{unique(bson.D{{Key: "files_id", Value: 1}, {Key: "n", Value: 1}})}
	}
	return all
}

// Create stores the metadata of b, whose files are already uploaded;
// ErrConflict when a bundle of this kind has the same QEXT file name.
func (r *Bundles) Create(ctx context.Context, b *Bundle) error {
	if b.ID == "" {
		b.ID = NewID()
	}
	now := time.Now().UTC()
	b.QEXTKey = QEXTKey(b.QEXTFilename)
	b.CreatedAt, b.PublishedAt, b.UpdatedAt, b.Version = now, now, now, 1
	b.UpdatedBy = b.CreatedBy
	b.Tags, b.Files = nonNil(b.Tags), nonNilFiles(b.Files)
	if err := r.c.insert(ctx, b); err != nil {
		return fmt.Errorf("create %s %q: %w", r.bucket, b.QEXTFilename, err)
	}
	return nil
}

// Get returns the bundle with id.
func (r *Bundles) Get(ctx context.Context, id string) (*Bundle, error) {
	b, err := r.c.byID(ctx, id)
	if err != nil {
		return nil, fmt.Errorf("%s %q: %w", r.bucket, id, err)
	}
	return b, nil
}

// ByQEXT returns the bundle whose QEXT file name is filename (any case).
func (r *Bundles) ByQEXT(ctx context.Context, filename string) (*Bundle, error) {
	b, err := r.c.get(ctx, bson.D{{Key: "qextKey", Value: QEXTKey(filename)}})
	if err != nil {
		return nil, fmt.Errorf("%s with QEXT file %q: %w", r.bucket, filename, err)
	}
	return b, nil
}

// BundleFilter narrows a bundle list.
type BundleFilter struct {
	Tag   string // bundles carrying this tag
	Query string // substring of the name or the QEXT file name, any case
}

// BSON is the MongoDB filter of f.
func (f BundleFilter) BSON() bson.D {
	filter := bson.D{}
	if f.Tag != "" {
		filter = append(filter, bson.E{Key: "tags", Value: f.Tag})
	}
	if f.Query != "" {
		re := bson.Regex{Pattern: regexp.QuoteMeta(f.Query), Options: "i"}
		filter = append(filter, bson.E{Key: "$or", Value: bson.A{
			bson.D{{Key: "name", Value: re}}, bson.D{{Key: "qextFilename", Value: re}},
		}})
	}
	return filter
}

// List returns one page of bundles in creation order.
func (r *Bundles) List(ctx context.Context, f BundleFilter, p Page) ([]Bundle, string, error) {
	return r.c.page(ctx, f.BSON(), p)
}

// SetTags replaces the tags of the bundle id at version (compare-and-swap).
func (r *Bundles) SetTags(ctx context.Context, id string, version int64, tags []string, by string) (*Bundle, error) {
	b, err := r.c.updateVersion(ctx, id, version, nil, bson.D{
		{Key: "tags", Value: nonNil(tags)}, {Key: "updatedBy", Value: by},
	})
	if err != nil {
		return nil, fmt.Errorf("update %s %q: %w", r.bucket, id, err)
	}
	return b, nil
}

// Replace swaps the metadata and the file set of the bundle id at version
// for those of next (whose files are already uploaded), and its tags when
// tags is not nil. ErrConflict when the bundle changed meanwhile or another
// bundle has next's QEXT file name. The caller deletes the old files.
func (r *Bundles) Replace(ctx context.Context, id string, version int64, next *Bundle, tags []string, by string) (*Bundle, error) {
	set := bson.D{
		{Key: "qextFilename", Value: next.QEXTFilename}, {Key: "qextKey", Value: QEXTKey(next.QEXTFilename)},
		{Key: "name", Value: next.Name}, {Key: "type", Value: next.Type},
		{Key: "qextVersion", Value: next.QEXTVersion}, {Key: "author", Value: next.Author},
		{Key: "description", Value: next.Description}, {Key: "icon", Value: next.Icon},
		{Key: "preview", Value: next.Preview}, {Key: "homepage", Value: next.Homepage},
		{Key: "license", Value: next.License}, {Key: "keywords", Value: next.Keywords},
		{Key: "files", Value: nonNilFiles(next.Files)},
		{Key: "publishedAt", Value: time.Now().UTC()}, {Key: "updatedBy", Value: by},
	}
	if tags != nil {
		set = append(set, bson.E{Key: "tags", Value: tags})
	}
	b, err := r.c.updateVersion(ctx, id, version, nil, set)
	if err != nil {
		return nil, fmt.Errorf("replace %s %q: %w", r.bucket, id, err)
	}
	return b, nil
}

// Delete removes the metadata of the bundle id; the caller deletes its
// files afterwards.
func (r *Bundles) Delete(ctx context.Context, id string) error {
	if err := r.c.deleteByID(ctx, id); err != nil {
		return fmt.Errorf("delete %s %q: %w", r.bucket, id, err)
	}
	return nil
}

// gridfs returns a handle on the bucket. A GridFSBucket keeps buffers and a
// first-write flag that are not safe for concurrent use, so every operation
// takes its own (they are cheap: two collection handles and two buffers).
func (r *Bundles) gridfs() *mongo.GridFSBucket {
	return r.db.GridFSBucket(options.GridFSBucket().SetName(r.bucket))
}

// fileMeta is the metadata kept with every GridFS file.
type fileMeta struct {
	BundleID string `bson:"bundleId"`
	Path     string `bson:"path"`
}

// UploadFile stores the content of src as a new GridFS file named
// "<bundleID>/<path>" and returns its id and length. A failure of src is
// returned wrapped as it is (errors.As finds it) and leaves nothing behind.
//
// A file that fits in one chunk is written as the GridFS specification
// lays it out (one chunk document, then the files document): the driver's
// upload stream allocates a 16 MiB buffer per file, which bundles of many
// small files would pay for every file. Larger files go through the
// driver's upload stream.
func (r *Bundles) UploadFile(ctx context.Context, bundleID, path string, src io.Reader) (bson.ObjectID, int64, error) {
	id := bson.NewObjectID()
	name := bundleID + "/" + path
	meta := fileMeta{BundleID: bundleID, Path: path}
	chunkSize := mongo.DefaultGridFSChunkSize
	head := make([]byte, int(chunkSize)+1)
	n, err := io.ReadFull(src, head)
	switch {
	case errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF):
		if err := r.writeSmall(ctx, id, name, meta, head[:n], chunkSize); err != nil {
			return id, 0, fmt.Errorf("store file %q: %w", name, err)
		}
		return id, int64(n), nil
	case err != nil:
		return id, 0, fmt.Errorf("read file %q: %w", name, err)
	}
	us, err := r.gridfs().OpenUploadStreamWithID(ctx, id, name, options.GridFSUpload().SetMetadata(meta))
	if err != nil {
		return id, 0, fmt.Errorf("store file %q: %w", name, err)
	}
	total := int64(n)
	if _, err := us.Write(head[:n]); err != nil {
		_ = us.Abort()
		return id, 0, fmt.Errorf("store file %q: %w", name, err)
	}
	copied, err := io.Copy(us, src)
	total += copied
	if err != nil {
		_ = us.Abort()
		return id, 0, fmt.Errorf("store file %q: %w", name, err)
	}
	if err := us.Close(); err != nil {
		// Close failed after the chunks were written: remove them.
		_ = r.DeleteFiles(context.WithoutCancel(ctx), []bson.ObjectID{id})
		return id, 0, fmt.Errorf("store file %q: %w", name, err)
	}
	return id, total, nil
}

// writeSmall writes a file of at most one chunk in the GridFS layout.
func (r *Bundles) writeSmall(ctx context.Context, id bson.ObjectID, name string, meta fileMeta, data []byte, chunkSize int32) error {
	b := r.gridfs()
	if len(data) > 0 {
		if _, err := b.GetChunksCollection().InsertOne(ctx, bson.D{
			{Key: "_id", Value: bson.NewObjectID()}, {Key: "files_id", Value: id}, {Key: "n", Value: int32(0)},
			{Key: "data", Value: bson.Binary{Data: data}},
		}); err != nil {
			return err
		}
	}
	if _, err := b.GetFilesCollection().InsertOne(ctx, bson.D{
		{Key: "_id", Value: id}, {Key: "length", Value: int64(len(data))}, {Key: "chunkSize", Value: chunkSize},
		{Key: "uploadDate", Value: time.Now().UTC()}, {Key: "filename", Value: name}, {Key: "metadata", Value: meta},
	}); err != nil {
		_, _ = b.GetChunksCollection().DeleteMany(context.WithoutCancel(ctx), bson.D{{Key: "files_id", Value: id}})
		return err
	}
	return nil
}

// OpenFile opens the GridFS file id for reading; the caller closes it.
// ErrNotFound when it does not exist.
func (r *Bundles) OpenFile(ctx context.Context, id bson.ObjectID) (io.ReadCloser, error) {
	ds, err := r.gridfs().OpenDownloadStream(ctx, id)
	if err != nil {
		if errors.Is(err, mongo.ErrFileNotFound) {
			return nil, fmt.Errorf("%s file %s: %w", r.bucket, id.Hex(), ErrNotFound)
		}
		return nil, fmt.Errorf("%s file %s: %w", r.bucket, id.Hex(), err)
	}
	return ds, nil
}

// DeleteFiles deletes the GridFS files ids (those already gone are
// ignored): the files documents first, so a half-deleted file is never
// listed, then their chunks.
func (r *Bundles) DeleteFiles(ctx context.Context, ids []bson.ObjectID) error {
	if len(ids) == 0 {
		return nil
	}
	b := r.gridfs()
	in := bson.D{{Key: "$in", Value: ids}}
	if _, err := b.GetFilesCollection().DeleteMany(ctx, bson.D{{Key: "_id", Value: in}}); err != nil {
		return fmt.Errorf("delete %d %s files: %w", len(ids), r.bucket, err)
	}
	if _, err := b.GetChunksCollection().DeleteMany(ctx, bson.D{{Key: "files_id", Value: in}}); err != nil {
		return fmt.Errorf("delete the chunks of %d %s files: %w", len(ids), r.bucket, err)
	}
	return nil
}

// CountFiles counts the GridFS files documents and chunks of the files ids,
// or of the whole bucket when ids is nil (to check that nothing was left
// behind).
func (r *Bundles) CountFiles(ctx context.Context, ids []bson.ObjectID) (files, chunks int64, err error) {
	b := r.gridfs()
	byID, byFile := bson.D{}, bson.D{}
	if ids != nil {
		in := bson.D{{Key: "$in", Value: ids}}
		byID, byFile = bson.D{{Key: "_id", Value: in}}, bson.D{{Key: "files_id", Value: in}}
	}
	if files, err = b.GetFilesCollection().CountDocuments(ctx, byID); err != nil {
		return 0, 0, fmt.Errorf("count %s files: %w", r.bucket, err)
	}
	if chunks, err = b.GetChunksCollection().CountDocuments(ctx, byFile); err != nil {
		return 0, 0, fmt.Errorf("count %s chunks: %w", r.bucket, err)
	}
	return files, chunks, nil
}

func nonNilFiles(f []BundleFile) []BundleFile {
	if f == nil {
		return []BundleFile{}
	}
	return f
}
