// Package bundletest builds extension archives for tests: zip files with
// chosen entries, modes, sizes and headers, and sample file contents by
// their magic numbers.
package bundletest

import (
	"archive/zip"
	"bytes"
	"hash/crc32"
	"io/fs"
	"testing"
)

// Entry is one entry of a test archive.
type Entry struct {
	Name string
	Data []byte
	Mode fs.FileMode // 0: a regular file
	// Raw entries are written as they are (stored), with these header
	// values: Declared is the uncompressed size the header claims (0: the
	// real size), Method the compression method, Flags the general flags.
	Raw      bool
	Declared uint64
	Method   uint16
	Flags    uint16
}

// Zip builds an archive of entries.
func Zip(t testing.TB, entries ...Entry) []byte {
	t.Helper()
	var buf bytes.Buffer
	w := zip.NewWriter(&buf)
	for _, e := range entries {
		if e.Raw {
			size := e.Declared
			if size == 0 {
				size = uint64(len(e.Data))
			}
			h := &zip.FileHeader{
				Name: e.Name, Method: e.Method, Flags: e.Flags, CRC32: crc32.ChecksumIEEE(e.Data),
				CompressedSize64: uint64(len(e.Data)), UncompressedSize64: size,
			}
			rw, err := w.CreateRaw(h)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := rw.Write(e.Data); err != nil {
				t.Fatal(err)
			}
			continue
		}
		h := &zip.FileHeader{Name: e.Name, Method: zip.Deflate, Flags: e.Flags}
		if e.Mode != 0 {
			h.SetMode(e.Mode)
		}
		fw, err := w.CreateHeader(h)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := fw.Write(e.Data); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// QEXTFile is a .qext entry at name with the given metadata.
func QEXTFile(name, meta string) Entry { return Entry{Name: name, Data: []byte(meta)} }

// Plain is a regular file entry.
func Plain(name, data string) Entry { return Entry{Name: name, Data: []byte(data)} }

// Sample contents, by their magic numbers.
const (
	PNG  = "\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06\x00\x00\x00"
	JPEG = "\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01"
	GIF  = "GIF89a\x01\x00\x01\x00"
	ELF  = "\x7fELF\x02\x01\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00"
	PE   = "MZ\x90\x00\x03\x00\x00\x00\x04\x00\x00\x00\xff\xff"
	MACH = "\xcf\xfa\xed\xfe\x07\x00\x00\x01"
	WOFF = "wOFF\x00\x01\x00\x00"
)
