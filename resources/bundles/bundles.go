// Package bundles serves extensions and themes (seed 000 §1.6, §1.7, §8,
// §9) from one implementation parameterised by Kind: /api/v1/extensions and
// /api/v1/themes. A bundle is uploaded as a zip archive holding exactly one
// .qext file (its metadata) at any depth; the archive is checked in full
// (ReadBundle: paths, file types, sizes, zip bombs) before anything is
// stored, its files go to the kind's GridFS bucket first and its metadata
// document last, so a failed upload leaves nothing behind and a listed
// bundle always has its files.
//
// Request bodies: the server-wide --body-limit (default 1 MiB) applies to
// uploads too. Fiber v3 enforces the body limit in fasthttp, before
// routing, and has no per-route limit, so an operator who uploads large
// bundles raises --body-limit (the whole body is held in memory while
// Fiber parses it). MaxFileBytes (250 MB, seed §8.1, §9.1) bounds each
// file inside the archive.
package bundles

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"mime/multipart"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/gofiber/fiber/v3"
	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/rulekeeper/rulekeeper/authz"
	"github.com/rulekeeper/rulekeeper/resources/apierror"
	"github.com/rulekeeper/rulekeeper/resources/guard"
	"github.com/rulekeeper/rulekeeper/resources/identity"
	"github.com/rulekeeper/rulekeeper/resources/listing"
	"github.com/rulekeeper/rulekeeper/resources/pushdown"
	"github.com/rulekeeper/rulekeeper/resources/store"
	"github.com/rulekeeper/rulekeeper/resources/users"
)

// Tag limits.
const (
	maxTags     = 50
	maxTagBytes = 100
)

// downloadTimeout bounds how long one file download may stream.
const downloadTimeout = 10 * time.Minute

// Handlers serve /extensions or /themes, depending on Kind.
type Handlers struct {
	Kind       Kind
	Store      *store.Store
	Guard      *guard.Guard
	Invalidate func(kind, id string) // drops a bundle from the engine's entity cache; may be nil
	// MaxFileBytes bounds each file inside an archive (0: 250 MB).
	MaxFileBytes int64
	Logger       *slog.Logger // nil: slog.Default()
	// Lists counts planned lists (nil: not counted).
	Lists *pushdown.Metrics
	// MaxDecisions bounds the items a list page decides one by one
	// (pushdown.Query.MaxDecisions; 0: pushdown.DefaultMaxDecisions).
	MaxDecisions int
}

// Register mounts the routes on r (already authenticated).
func (h *Handlers) Register(r fiber.Router) {
	base := "/" + h.Kind.Plural()
	r.Get(base, h.list)
	r.Post(base, h.create)
	r.Get(base+"/:id", h.get)
	r.Patch(base+"/:id", h.patch)
	r.Delete(base+"/:id", h.delete)
	r.Get(base+"/:id/files/*", h.file)
}

func (h *Handlers) repo() *store.Bundles {
	if h.Kind == Theme {
		return h.Store.Themes
	}
	return h.Store.Extensions
}

func (h *Handlers) logger() *slog.Logger {
	if h.Logger != nil {
		return h.Logger
	}
	return slog.Default()
}

func (h *Handlers) invalidate(id string) {
	if h.Invalidate != nil {
		h.Invalidate(string(h.Kind), id)
	}
}

func (h *Handlers) limits() Limits { return DefaultLimits(h.MaxFileBytes) }

// resource is the policy's view of a bundle (the engine hydrates stored
// bundles by id; see package entities).
func (h *Handlers) resource(b *store.Bundle) authz.Resource {
	if b == nil {
		return authz.Resource{Type: string(h.Kind)}
	}
	r := authz.Resource{Type: string(h.Kind), ID: b.ID, Name: b.Name, Owner: b.CreatedBy}
	if len(b.Tags) > 0 {
		// As package entities hydrates a stored bundle: rules read resource.@tags.
		r.Attributes = map[string][]string{"tags": b.Tags}
	}
	return r
}

// readable answers nil when the caller may read b: every licensed user in
// the hub, and tenant admins in the console (who may have no license).
func (h *Handlers) readable(c fiber.Ctx, b *store.Bundle) error {
	ok, err := h.Guard.Allowed(c, guard.Hub, "read", h.resource(b))
	if err != nil || ok {
		return err
	}
	return h.Guard.Require(c, guard.Console, "read", h.resource(b))
}

func (h *Handlers) load(c fiber.Ctx) (*store.Bundle, error) {
	b, err := h.repo().Get(c.Context(), c.Params("id"))
	if err != nil {
		return nil, guard.Missing(h.resource(nil).Type, c.Params("id"), err)
	}
	return b, nil
}

// list answers a page of the bundles the caller may read, filtered in the
// database by the policy's plan (resources/pushdown) and the query.
func (h *Handlers) list(c fiber.Ctx) error {
	p, err := users.Page(c)
	if err != nil {
		return err
	}
	plan, err := h.Guard.Plan(c, "read", h.resource(nil), nil, guard.Hub, guard.Console)
	if err != nil {
		return err
	}
	query := store.BundleFilter{Tag: c.Query("tag"), Query: c.Query("q")}.BSON()
	items, next, err := pushdown.List(c.Context(), pushdown.Query[store.Bundle]{
		Resource: string(h.Kind), Filter: plan, Fields: pushdown.BundleFields(string(h.Kind)),
		Fetch: func(ctx context.Context, f bson.D, after string, limit int) ([]store.Bundle, error) {
			if len(query) > 0 {
				f = bson.D{{Key: "$and", Value: bson.A{f, query}}}
			}
			return h.repo().Scan(ctx, f, after, limit)
		},
		ID: func(b *store.Bundle) string { return b.ID },
		Allowed: func(_ context.Context, b *store.Bundle) (bool, error) {
			return h.Guard.AllowedHubOrConsole(c, "read", h.resource(b))
		},
		Limit: p.Limit, Cursor: p.Cursor, Metrics: h.Lists, MaxDecisions: h.MaxDecisions,
	})
	if err != nil {
		return err
	}
	return listing.JSON(c, items, next)
}

func (h *Handlers) get(c fiber.Ctx) error {
	b, err := h.load(c)
	if err != nil {
		return err
	}
	if err := h.readable(c, b); err != nil {
		return err
	}
	return c.JSON(b)
}

// upload is a parsed multipart body: the archive (nil when absent) and the
// tags (nil when no tags field was sent).
type upload struct {
	file *multipart.FileHeader
	tags []string
}

// form reads a multipart body with the fields file and tags.
func form(c fiber.Ctx) (*upload, error) {
	f, err := c.MultipartForm()
	if err != nil {
		return nil, apierror.Field("bad_form", "body", "the body is not a readable multipart/form-data form: "+err.Error())
	}
	for k := range f.Value {
		if k != "tags" {
			return nil, apierror.Field("unknown_field", k, fmt.Sprintf("unknown form field %q; the fields are file and tags", k))
		}
	}
	for k := range f.File {
		if k != "file" {
			return nil, apierror.Field("unknown_field", k, fmt.Sprintf("unknown form field %q; the fields are file and tags", k))
		}
	}
	u := &upload{}
	switch files := f.File["file"]; len(files) {
	case 0:
	case 1:
		u.file = files[0]
	default:
		return nil, apierror.Field("several_files", "file", "send one zip archive in the file field")
	}
	if vs, ok := f.Value["tags"]; ok {
		if u.tags, err = cleanTags(vs); err != nil {
			return nil, err
		}
	}
	return u, nil
}

// cleanTags trims, drops empty values and duplicates (any case) and checks
// the limits. One empty value clears the tags.
func cleanTags(in []string) ([]string, error) {
	out := []string{}
	seen := map[string]bool{}
	for _, t := range in {
		t = strings.TrimSpace(t)
		if t == "" {
			continue
		}
		if len(t) > maxTagBytes {
			return nil, apierror.Field("bad_tag", "tags", fmt.Sprintf("a tag has at most %d bytes", maxTagBytes))
		}
		if k := strings.ToLower(t); !seen[k] {
			seen[k] = true
			out = append(out, t)
		}
	}
	if len(out) > maxTags {
		return nil, apierror.Field("too_many_tags", "tags", fmt.Sprintf("at most %d tags", maxTags))
	}
	return out, nil
}

// isMultipart reports whether the request body is multipart/form-data.
func isMultipart(c fiber.Ctx) bool {
	mt, _, err := mime.ParseMediaType(c.Get(fiber.HeaderContentType))
	return err == nil && mt == "multipart/form-data"
}

// open checks the uploaded archive; a refusal is a 400 with its code.
func (h *Handlers) open(fh *multipart.FileHeader) (*Archive, io.Closer, error) {
	f, err := fh.Open()
	if err != nil {
		return nil, nil, fmt.Errorf("open the uploaded file: %w", err)
	}
	a, err := ReadBundle(f, fh.Size, h.Kind, h.limits())
	if err != nil {
		_ = f.Close()
		return nil, nil, refusal(err)
	}
	return a, f, nil
}

// refusal maps an archive refusal to its 400; other errors stay as they are.
func refusal(err error) error {
	var r *Refusal
	if !errors.As(err, &r) {
		return err
	}
	details := map[string]any{"field": "file"}
	if r.Path != "" {
		details["path"] = r.Path
	}
	return apierror.New(http.StatusBadRequest, r.Code, r.Message, details)
}

func (h *Handlers) qextExists(filename string) error {
	return apierror.New(http.StatusConflict, "qext_exists",
		fmt.Sprintf("a %s with the QEXT file name %q exists; QEXT file names are unique", h.Kind, filename),
		map[string]any{"field": "file", "qextFilename": filename})
}

// storeFiles uploads the files of a to GridFS under bundle id. On failure
// it deletes what it uploaded and returns the error.
func (h *Handlers) storeFiles(ctx context.Context, id string, a *Archive) ([]store.BundleFile, error) {
	out := make([]store.BundleFile, 0, len(a.Files))
	for _, f := range a.Files {
		rc, err := a.Open(f)
		if err == nil {
			var fid bson.ObjectID
			var n int64
			fid, n, err = h.repo().UploadFile(ctx, id, f.Path, rc)
			_ = rc.Close()
			if err == nil {
				out = append(out, store.BundleFile{Path: f.Path, Size: n, ContentType: f.ContentType, FileID: fid})
				continue
			}
		}
		h.discard(ctx, (&store.Bundle{Files: out}).FileIDs())
		return nil, refusal(err)
	}
	return out, nil
}

// discard deletes GridFS files that no metadata document refers to (any
// more); a failure is logged and leaves orphaned files, never a bundle
// without its files.
func (h *Handlers) discard(ctx context.Context, ids []bson.ObjectID) {
	if err := h.repo().DeleteFiles(context.WithoutCancel(ctx), ids); err != nil {
		h.logger().ErrorContext(ctx, "delete bundle files", "kind", h.Kind, "files", len(ids), "error", err.Error())
	}
}

func bundleOf(a *Archive) *store.Bundle {
	q := a.QEXT
	return &store.Bundle{
		QEXTFilename: q.Filename, Name: q.Name, Type: q.Type, QEXTVersion: q.Version, Author: q.Author,
		Description: q.Description, Icon: q.Icon, Preview: q.Preview, Homepage: q.Homepage,
		License: q.License, Keywords: q.Keywords,
	}
}

func (h *Handlers) create(c fiber.Ctx) error {
	if err := h.Guard.Require(c, guard.Console, "create", h.resource(nil)); err != nil {
		return err
	}
	if !isMultipart(c) {
		return apierror.New(http.StatusUnsupportedMediaType, "unsupported_media_type",
			"upload a zip archive as multipart/form-data with the fields file and tags", nil)
	}
	u, err := form(c)
	if err != nil {
		return err
	}
	if u.file == nil {
		return apierror.Field("missing_file", "file", "the file field with a zip archive is required")
	}
	a, f, err := h.open(u.file)
	if err != nil {
		return err
	}
	defer f.Close()
	ctx := c.Context()
	// A quick refusal before uploading; the unique index decides below.
	if _, err := h.repo().ByQEXT(ctx, a.QEXT.Filename); err == nil {
		return h.qextExists(a.QEXT.Filename)
	} else if !errors.Is(err, store.ErrNotFound) {
		return err
	}
	caller := identity.CallerOf(c).User
	b := bundleOf(a)
	b.ID, b.Tags, b.CreatedBy = store.NewIDFor(c.Context()), u.tags, caller.ID
	if b.Files, err = h.storeFiles(ctx, b.ID, a); err != nil {
		return err
	}
	if err := h.repo().Create(ctx, b); err != nil {
		h.discard(ctx, b.FileIDs())
		if errors.Is(err, store.ErrConflict) {
			return h.qextExists(a.QEXT.Filename)
		}
		return err
	}
	if err := h.event(ctx, "created", caller.ID, b); err != nil {
		return err
	}
	return c.Status(http.StatusCreated).JSON(b)
}

func (h *Handlers) event(ctx context.Context, what, userID string, b *store.Bundle) error {
	return h.Store.Events.Add(ctx, h.Kind.EventSource(), string(h.Kind)+"."+what, userID, map[string]any{
		string(h.Kind) + "Id": b.ID, "name": b.Name, "qextFilename": b.QEXTFilename,
	})
}

func (h *Handlers) patch(c fiber.Ctx) error {
	b, err := h.load(c)
	if err != nil {
		return err
	}
	if err := h.Guard.Require(c, guard.Console, "update", h.resource(b)); err != nil {
		return err
	}
	ctx := c.Context()
	caller := identity.CallerOf(c).User
	var nb *store.Bundle
	if isMultipart(c) {
		nb, err = h.replace(c, b)
	} else {
		nb, err = h.retag(c, b)
	}
	if err != nil {
		return err
	}
	h.invalidate(b.ID)
	if err := h.event(ctx, "updated", caller.ID, nb); err != nil {
		return err
	}
	return c.JSON(nb)
}

// retag applies a JSON PATCH: {"tags": [...]} replaces the tags.
func (h *Handlers) retag(c fiber.Ctx, b *store.Bundle) (*store.Bundle, error) {
	var body struct {
		Tags *[]string `json:"tags"`
	}
	if err := apierror.DecodeJSON(c.Body(), &body); err != nil {
		return nil, err
	}
	if body.Tags == nil {
		return nil, apierror.Field("missing_tags", "tags", "send tags (JSON), or a multipart form with file and/or tags")
	}
	tags, err := cleanTags(*body.Tags)
	if err != nil {
		return nil, err
	}
	return h.repo().SetTags(c.Context(), b.ID, b.Version, tags, identity.CallerOf(c).User.ID)
}

// replace applies a multipart PATCH: a new archive replaces the files and
// the metadata (uploaded first, swapped in one update, the old files
// deleted last), tags replace the tags.
func (h *Handlers) replace(c fiber.Ctx, b *store.Bundle) (*store.Bundle, error) {
	ctx := c.Context()
	caller := identity.CallerOf(c).User
	u, err := form(c)
	if err != nil {
		return nil, err
	}
	if u.file == nil {
		if u.tags == nil {
			return nil, apierror.Field("missing_file", "file", "send a file, tags, or both")
		}
		return h.repo().SetTags(ctx, b.ID, b.Version, u.tags, caller.ID)
	}
	a, f, err := h.open(u.file)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	renamed := store.QEXTKey(a.QEXT.Filename) != b.QEXTKey
	if renamed {
		if _, err := h.repo().ByQEXT(ctx, a.QEXT.Filename); err == nil {
			return nil, h.qextExists(a.QEXT.Filename)
		} else if !errors.Is(err, store.ErrNotFound) {
			return nil, err
		}
	}
	next := bundleOf(a)
	if next.Files, err = h.storeFiles(ctx, b.ID, a); err != nil {
		return nil, err
	}
	nb, err := h.repo().Replace(ctx, b.ID, b.Version, next, u.tags, caller.ID)
	if err != nil {
		h.discard(ctx, next.FileIDs())
		if errors.Is(err, store.ErrConflict) && renamed {
			// Either somebody changed the bundle meanwhile or another
			// bundle took the new QEXT file name: the version tells.
			if cur, gerr := h.repo().Get(ctx, b.ID); gerr == nil && cur.Version == b.Version {
				return nil, h.qextExists(a.QEXT.Filename)
			}
		}
		return nil, err
	}
	h.discard(ctx, b.FileIDs())
	return nb, nil
}

func (h *Handlers) delete(c fiber.Ctx) error {
	b, err := h.load(c)
	if err != nil {
		return err
	}
	if err := h.Guard.Require(c, guard.Console, "delete", h.resource(b)); err != nil {
		return err
	}
	ctx := c.Context()
	if err := h.repo().Delete(ctx, b.ID); err != nil {
		return err
	}
	h.invalidate(b.ID)
	h.discard(ctx, b.FileIDs())
	if err := h.event(ctx, "deleted", identity.CallerOf(c).User.ID, b); err != nil {
		return err
	}
	return c.SendStatus(http.StatusNoContent)
}

// file serves one stored file of a bundle.
func (h *Handlers) file(c fiber.Ctx) error {
	b, err := h.load(c)
	if err != nil {
		return err
	}
	if err := h.readable(c, b); err != nil {
		return err
	}
	p, err := url.PathUnescape(c.Params("*"))
	if err != nil {
		return apierror.Field("bad_path", "path", "the file path is not a valid URL path")
	}
	f := b.File(p)
	if f == nil {
		return apierror.New(http.StatusNotFound, "not_found", fmt.Sprintf("%s %q has no file %q", h.Kind, b.ID, p),
			map[string]any{"resource": string(h.Kind), "id": b.ID, "path": p})
	}
	// The stream outlives the handler (Fiber writes it afterwards), so it
	// gets its own context, cancelled when the stream is closed.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(c.Context()), downloadTimeout)
	rc, err := h.repo().OpenFile(ctx, f.FileID)
	if err != nil {
		cancel()
		return err
	}
	c.Set(fiber.HeaderContentType, f.ContentType)
	c.Set(fiber.HeaderXContentTypeOptions, "nosniff")
	// Files are content to use, never pages to run on this origin.
	c.Set(fiber.HeaderContentSecurityPolicy, "sandbox; default-src 'none'; style-src 'unsafe-inline'; img-src 'self' data:")
	return c.SendStream(&stream{ReadCloser: rc, cancel: cancel}, int(f.Size))
}

// stream closes the download stream and cancels its context.
type stream struct {
	io.ReadCloser
	cancel context.CancelFunc
}

func (s *stream) Close() error {
	defer s.cancel()
	return s.ReadCloser.Close()
}
