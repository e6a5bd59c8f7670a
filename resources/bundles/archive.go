package bundles

import (
	"archive/zip"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"path"
	"slices"
	"strings"
	"unicode/utf8"
)

// Default limits of an archive (seed 000 §8.1, §9.1: "Maximum size of a
// file within a theme folder is 250 MB").
const (
	DefaultMaxFileBytes = 250 << 20
	DefaultMaxEntries   = 10_000
	DefaultMaxRatio     = 100
	// ratioFloor: below this many uncompressed bytes the compression ratio
	// is not checked (a small file of repeated bytes compresses very well).
	ratioFloor = 1 << 20
	// maxQEXTBytes bounds the QEXT file, which is parsed in memory.
	maxQEXTBytes = 1 << 20
	// maxPathBytes bounds one entry name.
	maxPathBytes = 512
	// maxField bounds one QEXT metadata value.
	maxField = 4096
	// sniffBytes is how much of a file content sniffing looks at.
	sniffBytes = 512
)

// Limits bound what an archive may unpack to. Sizes are measured while
// reading, never taken from the archive's headers.
type Limits struct {
	MaxFileBytes  int64 // largest uncompressed file
	MaxTotalBytes int64 // largest sum of uncompressed files
	MaxEntries    int   // most entries (files and folders)
	// MaxRatio is the largest ratio of uncompressed to compressed bytes, of
	// one entry and of the whole archive, beyond ratioFloor bytes.
	MaxRatio int64
}

// DefaultLimits are the limits for files of at most maxFile bytes (0: the
// default 250 MB): the whole bundle unpacks to at most four such files.
func DefaultLimits(maxFile int64) Limits {
	if maxFile <= 0 {
		maxFile = DefaultMaxFileBytes
	}
	return Limits{MaxFileBytes: maxFile, MaxTotalBytes: 4 * maxFile, MaxEntries: DefaultMaxEntries, MaxRatio: DefaultMaxRatio}
}

// Refusal codes: every way an archive is refused, each a 400.
const (
	CodeBadArchive      = "bad_archive"
	CodeNoQEXT          = "no_qext"
	CodeSeveralQEXT     = "several_qext"
	CodeBadQEXT         = "bad_qext"
	CodeTypeNotAllowed  = "file_type_not_allowed"
	CodeFileTooLarge    = "file_too_large"
	CodeUnsafePath      = "unsafe_path"
	CodeArchiveTooLarge = "archive_too_large"
)

// Refusal is why an archive is not accepted.
type Refusal struct {
	Code    string
	Message string
	Path    string // the entry at fault, "" for the archive as a whole
}

func (r *Refusal) Error() string {
	if r.Path == "" {
		return r.Code + ": " + r.Message
	}
	return fmt.Sprintf("%s: %s (%q)", r.Code, r.Message, r.Path)
}

func refuse(code, entry, format string, args ...any) *Refusal {
	return &Refusal{Code: code, Message: fmt.Sprintf(format, args...), Path: entry}
}

// QEXT is the metadata of a bundle, from its QEXT file.
type QEXT struct {
	// Filename is the QEXT file's name without ".qext": the bundle's unique
	// identifier, different from its Name.
	Filename    string
	Name        string
	Type        string
	Version     string
	Author      string
	Description string
	Icon        string
	Preview     string
	Homepage    string
	License     string
	Keywords    string
}

// Archive is an archive that passed every check: its QEXT metadata and the
// files to store.
type Archive struct {
	QEXT QEXT
	// Root is the folder of the QEXT file inside the archive ("" at the
	// top); file paths are relative to it.
	Root  string
	Files []File
	zr    *zip.Reader
}

// File is one file of an archive.
type File struct {
	Path        string // relative to the archive's Root, "/"-separated
	Size        int64  // uncompressed bytes, as read
	ContentType string // what the file is served as
	entry       *zip.File
}

// ReadBundle checks the zip archive r of size bytes as a bundle of kind:
// entry names (no "..", absolute paths, backslashes or symlinks), exactly
// one QEXT file at any depth, the file types the kind allows (by name and
// by content), and lim. It reads every entry once, through limited
// readers, so a zip bomb is refused when it starts to unpack. Refusals are
// *Refusal errors; a nil error means Open reads the files back.
func ReadBundle(r io.ReaderAt, size int64, kind Kind, lim Limits) (*Archive, error) {
	if size <= 0 {
		return nil, refuse(CodeBadArchive, "", "the file is empty; upload a zip archive")
	}
	zr, err := zip.NewReader(r, size)
	if err != nil && !errors.Is(err, zip.ErrInsecurePath) {
		// Entry names are checked below, with a precise refusal.
		return nil, refuse(CodeBadArchive, "", "the file is not a readable zip archive: %v", err)
	}
	if len(zr.File) > lim.MaxEntries {
		return nil, refuse(CodeArchiveTooLarge, "", "the archive has %d entries; at most %d are accepted", len(zr.File), lim.MaxEntries)
	}
	var (
		files []*zip.File
		names []string // cleaned, same index as files
		qexts []int    // indexes into files
		seen  = map[string]bool{}
	)
	for _, f := range zr.File {
		name, isDir, err := cleanPath(f.Name)
		if err != nil {
			return nil, err
		}
		mode := f.Mode()
		switch {
		case mode&fs.ModeSymlink != 0:
			return nil, refuse(CodeUnsafePath, f.Name, "symbolic links are not accepted")
		case mode.IsDir() || isDir:
			continue
		case !mode.IsRegular():
			return nil, refuse(CodeUnsafePath, f.Name, "only regular files and folders are accepted")
		case f.Flags&0x1 != 0:
			return nil, refuse(CodeBadArchive, f.Name, "encrypted entries are not accepted")
		}
		if junk(name) {
			continue
		}
		key := strings.ToLower(name)
		if seen[key] {
			return nil, refuse(CodeBadArchive, f.Name, "the archive holds this path twice")
		}
		seen[key] = true
		if f.UncompressedSize64 > uint64(lim.MaxFileBytes) {
			// The header may lie low, never high: reading enforces it again.
			return nil, refuse(CodeFileTooLarge, name, "the file unpacks to %d bytes; a file may have at most %d", f.UncompressedSize64, lim.MaxFileBytes)
		}
		if strings.HasSuffix(key, ".qext") {
			qexts = append(qexts, len(files))
		}
		files = append(files, f)
		names = append(names, name)
	}
	switch len(qexts) {
	case 0:
		return nil, refuse(CodeNoQEXT, "", "the archive holds no .qext file")
	case 1:
	default:
		found := make([]string, len(qexts))
		for i, q := range qexts {
			found[i] = names[q]
		}
		return nil, refuse(CodeSeveralQEXT, names[qexts[1]], "the archive holds %d .qext files (%s); exactly one is accepted", len(qexts), strings.Join(found, ", "))
	}
	qpath := names[qexts[0]]
	meta, err := readQEXT(files[qexts[0]], qpath, kind)
	if err != nil {
		return nil, err
	}
	a := &Archive{QEXT: *meta, zr: zr}
	if dir := path.Dir(qpath); dir != "." {
		a.Root = dir
	}
	budget := &budget{lim: lim, archive: size}
	for i, f := range files {
		rel := names[i]
		if a.Root != "" {
			var ok bool
			if rel, ok = strings.CutPrefix(rel, a.Root+"/"); !ok {
				return nil, refuse(CodeBadArchive, names[i], "the file is outside the folder of the .qext file (%s)", a.Root)
			}
		}
		if err := kind.allowName(rel); err != nil {
			err.Path = names[i]
			return nil, err
		}
		head, n, err := scan(f, names[i], lim.MaxFileBytes, budget)
		if err != nil {
			return nil, err
		}
		sniffed := sniff(head)
		if err := kind.allowContent(rel, sniffed); err != nil {
			err.Path = names[i]
			return nil, err
		}
		a.Files = append(a.Files, File{Path: rel, Size: n, ContentType: contentType(rel, sniffed), entry: f})
	}
	slices.SortFunc(a.Files, func(x, y File) int { return strings.Compare(x.Path, y.Path) })
	return a, nil
}

// Open reads file f of the archive again, with the same limits: a file
// that does not read back exactly as checked fails with a *Refusal.
func (a *Archive) Open(f File) (io.ReadCloser, error) {
	rc, err := f.entry.Open()
	if err != nil {
		return nil, refuse(CodeBadArchive, f.entry.Name, "the entry cannot be read: %v", err)
	}
	return &exact{r: io.LimitReader(rc, f.Size+1), c: rc, want: f.Size, name: f.entry.Name}, nil
}

// exact reads exactly want bytes, or fails.
type exact struct {
	r    io.Reader
	c    io.Closer
	n    int64
	want int64
	name string
}

func (e *exact) Read(p []byte) (int, error) {
	n, err := e.r.Read(p)
	e.n += int64(n)
	if e.n > e.want {
		return n, refuse(CodeBadArchive, e.name, "the entry changed while it was read")
	}
	if err == io.EOF && e.n != e.want {
		return n, refuse(CodeBadArchive, e.name, "the entry changed while it was read")
	}
	if err != nil && err != io.EOF {
		return n, entryError(e.name, err)
	}
	return n, err
}

func (e *exact) Close() error { return e.c.Close() }

// budget is what the whole archive may still unpack to.
type budget struct {
	lim     Limits
	archive int64 // compressed size of the archive
	total   int64 // uncompressed bytes read so far
}

// scan reads entry f to its end through the limits and returns its first
// sniffBytes bytes and its size.
func scan(f *zip.File, name string, maxFile int64, b *budget) ([]byte, int64, error) {
	rc, err := f.Open()
	if err != nil {
		return nil, 0, entryError(name, err)
	}
	defer rc.Close()
	g := &limited{r: io.LimitReader(rc, maxFile+1), name: name, max: maxFile, compressed: int64(f.CompressedSize64), b: b}
	head := make([]byte, sniffBytes)
	n, err := io.ReadFull(g, head)
	if err != nil && !errors.Is(err, io.EOF) && !errors.Is(err, io.ErrUnexpectedEOF) {
		return nil, 0, err
	}
	if _, err := io.Copy(io.Discard, g); err != nil {
		return nil, 0, err
	}
	return head[:n], g.n, nil
}

// limited enforces the size and ratio limits on one entry while it is read.
type limited struct {
	r          io.Reader
	name       string
	n          int64
	max        int64
	compressed int64
	b          *budget
}

func (g *limited) Read(p []byte) (int, error) {
	n, err := g.r.Read(p)
	g.n += int64(n)
	g.b.total += int64(n)
	lim := g.b.lim
	switch {
	case g.n > g.max:
		return n, refuse(CodeFileTooLarge, g.name, "the file unpacks to more than %d bytes, the most a file may have", g.max)
	case g.b.total > lim.MaxTotalBytes:
		return n, refuse(CodeArchiveTooLarge, g.name, "the archive unpacks to more than %d bytes", lim.MaxTotalBytes)
	case lim.MaxRatio > 0 && g.n > ratioFloor && g.n > lim.MaxRatio*max(g.compressed, 1):
		return n, refuse(CodeArchiveTooLarge, g.name, "the file unpacks to more than %d times its compressed size", lim.MaxRatio)
	case lim.MaxRatio > 0 && g.b.total > ratioFloor && g.b.total > lim.MaxRatio*max(g.b.archive, 1):
		return n, refuse(CodeArchiveTooLarge, g.name, "the archive unpacks to more than %d times its size", lim.MaxRatio)
	}
	if err != nil && err != io.EOF {
		return n, entryError(g.name, err)
	}
	return n, err
}

// entryError is the refusal for an entry that cannot be read: an unknown
// compression method, corrupt data or a checksum mismatch.
func entryError(name string, err error) error {
	var r *Refusal
	if errors.As(err, &r) {
		return r
	}
	return refuse(CodeBadArchive, name, "the entry cannot be read: %v", err)
}

// cleanPath checks a zip entry name and returns it without a trailing
// slash, and whether it names a folder. Anything that could resolve
// outside the bundle, or differently on another system, is refused.
func cleanPath(name string) (string, bool, error) {
	bad := func(why string) (string, bool, error) {
		return "", false, refuse(CodeUnsafePath, name, "%s", why)
	}
	switch {
	case name == "":
		return bad("an entry has no name")
	case len(name) > maxPathBytes:
		return bad(fmt.Sprintf("the entry name is longer than %d bytes", maxPathBytes))
	case !utf8.ValidString(name):
		return bad("the entry name is not UTF-8")
	case strings.Contains(name, `\`):
		return bad("backslashes are not accepted in entry names")
	case strings.HasPrefix(name, "/"):
		return bad("absolute paths are not accepted")
	case strings.Contains(name, ":"):
		return bad("colons (drive letters) are not accepted in entry names")
	case strings.ContainsFunc(name, func(r rune) bool { return r < 0x20 || r == 0x7f }):
		return bad("control characters are not accepted in entry names")
	}
	dir := strings.HasSuffix(name, "/")
	clean := strings.TrimSuffix(name, "/")
	for seg := range strings.SplitSeq(clean, "/") {
		switch seg {
		case "":
			return bad("empty path segments are not accepted")
		case ".", "..":
			return bad(`"." and ".." are not accepted in entry names`)
		}
	}
	return clean, dir, nil
}

// junk is what operating systems add to archives they make: not stored.
func junk(name string) bool {
	if strings.HasPrefix(name, "__MACOSX/") {
		return true
	}
	switch path.Base(name) {
	case ".DS_Store", "Thumbs.db", "desktop.ini":
		return true
	}
	return false
}

// readQEXT reads and parses the QEXT file f (at p).
func readQEXT(f *zip.File, p string, kind Kind) (*QEXT, error) {
	rc, err := f.Open()
	if err != nil {
		return nil, entryError(p, err)
	}
	defer rc.Close()
	raw, err := io.ReadAll(io.LimitReader(rc, maxQEXTBytes+1))
	if err != nil {
		return nil, entryError(p, err)
	}
	if len(raw) > maxQEXTBytes {
		return nil, refuse(CodeBadQEXT, p, "the .qext file is larger than %d bytes", maxQEXTBytes)
	}
	base := path.Base(p)
	q, refusal := parseQEXT(raw, kind)
	if refusal != nil {
		refusal.Path = p
		return nil, refusal
	}
	q.Filename = base[:len(base)-len(".qext")]
	if q.Filename == "" {
		return nil, refuse(CodeBadQEXT, p, "the .qext file has no name before its extension")
	}
	return q, nil
}

// parseQEXT reads the metadata of a QEXT file: a JSON object with at least
// a name; a theme's type is "theme" and an extension's is not.
func parseQEXT(raw []byte, kind Kind) (*QEXT, *Refusal) {
	raw = bytes.TrimPrefix(raw, []byte("\xef\xbb\xbf"))
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(raw, &fields); err != nil || fields == nil {
		return nil, refuse(CodeBadQEXT, "", "the .qext file is not a JSON object")
	}
	q := &QEXT{}
	for _, field := range []struct {
		key string
		dst *string
	}{
		{"name", &q.Name}, {"type", &q.Type}, {"version", &q.Version}, {"author", &q.Author},
		{"description", &q.Description}, {"icon", &q.Icon}, {"preview", &q.Preview},
		{"homepage", &q.Homepage}, {"license", &q.License},
	} {
		key, dst := field.key, field.dst
		v, ok := fields[key]
		if !ok || string(v) == "null" {
			continue
		}
		if err := json.Unmarshal(v, dst); err != nil {
			return nil, refuse(CodeBadQEXT, "", "%q in the .qext file must be a string", key)
		}
		*dst = strings.TrimSpace(*dst)
		if len(*dst) > maxField {
			return nil, refuse(CodeBadQEXT, "", "%q in the .qext file is longer than %d bytes", key, maxField)
		}
	}
	if v, ok := fields["keywords"]; ok && string(v) != "null" {
		var one string
		var many []string
		switch {
		case json.Unmarshal(v, &one) == nil:
			q.Keywords = one
		case json.Unmarshal(v, &many) == nil:
			q.Keywords = strings.Join(many, ", ")
		default:
			return nil, refuse(CodeBadQEXT, "", `"keywords" in the .qext file must be a string or an array of strings`)
		}
		if len(q.Keywords) > maxField {
			return nil, refuse(CodeBadQEXT, "", `"keywords" in the .qext file is longer than %d bytes`, maxField)
		}
	}
	switch {
	case q.Name == "":
		return nil, refuse(CodeBadQEXT, "", `the .qext file needs a "name"`)
	case kind == Theme && !strings.EqualFold(q.Type, "theme"):
		return nil, refuse(CodeBadQEXT, "", `a theme's .qext file has "type": "theme", not %q`, q.Type)
	case kind == Extension && strings.EqualFold(q.Type, "theme"):
		return nil, refuse(CodeBadQEXT, "", `this .qext file describes a theme; upload it under /themes`)
	}
	return q, nil
}
