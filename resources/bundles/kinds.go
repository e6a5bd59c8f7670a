package bundles

import (
	"bytes"
	"net/http"
	"path"
	"strings"
)

// Kind is what a bundle is; it names the policy's resource type.
type Kind string

// The two kinds of bundle.
const (
	Extension Kind = "extension"
	Theme     Kind = "theme"
)

// Plural names the kind's routes (/api/v1/extensions) and collection.
func (k Kind) Plural() string { return string(k) + "s" }

// EventSource is the source of the kind's events.
func (k Kind) EventSource() string { return "com.rulekeeper/" + k.Plural() }

// ext is the lower-case extension of a file name, with its dot.
func ext(name string) string { return strings.ToLower(path.Ext(name)) }

// allowName refuses a file by its name: a theme holds only the file types
// of seed 000 §8.1 ("HTML files, CSS, JSON, and images (PNG, JPEG, GIF, and
// SVG), along with QEXT metadata files and font files"); an extension
// holds anything but executables (§9.1: "some MIME types of files are
// disallowed").
func (k Kind) allowName(name string) *Refusal {
	e := ext(name)
	switch k {
	case Theme:
		if themeContent(e) == "" {
			return refuse(CodeTypeNotAllowed, name, "a theme holds only HTML, CSS, JSON, PNG, JPEG, GIF, SVG, QEXT and font (WOFF, WOFF2, TTF, OTF, EOT) files, not %q files", e)
		}
	default:
		if mime := executableExt(e); mime != "" {
			return refuse(CodeTypeNotAllowed, name, "executable files (%s) are not accepted in an extension", mime)
		}
	}
	return nil
}

// allowContent refuses a file whose content (sniffed) is not what its
// name says (themes) or is an executable (both kinds).
func (k Kind) allowContent(name, sniffed string) *Refusal {
	if executableMIME(sniffed) {
		return refuse(CodeTypeNotAllowed, name, "the file's content is an executable (%s)", sniffed)
	}
	if k != Theme {
		return nil
	}
	want := themeContent(ext(name))
	ok := false
	switch want {
	case "text":
		ok = strings.HasPrefix(sniffed, "text/")
	case "font":
		ok = strings.HasPrefix(sniffed, "font/") || sniffed == "application/vnd.ms-fontobject" ||
			// Some valid fonts (Apple TrueType "true") have no signature the
			// sniffer knows; a recognised non-font type is still refused.
			sniffed == "application/octet-stream"
	default:
		ok = sniffed == want
	}
	if !ok {
		return refuse(CodeTypeNotAllowed, name, "the file's content (%s) does not match its name", sniffed)
	}
	return nil
}

// themeContent is what a theme file with extension e must sniff as:
// "text", "font", an exact image type, or "" when a theme may not hold it.
func themeContent(e string) string {
	switch e {
	case ".html", ".htm", ".css", ".json", ".qext", ".svg":
		return "text"
	case ".png":
		return "image/png"
	case ".jpg", ".jpeg":
		return "image/jpeg"
	case ".gif":
		return "image/gif"
	case ".woff", ".woff2", ".ttf", ".otf", ".eot":
		return "font"
	}
	return ""
}

// executableExt is the MIME type of an executable file extension, or "".
func executableExt(e string) string {
	switch e {
	case ".exe", ".dll", ".scr", ".com":
		return "application/vnd.microsoft.portable-executable"
	case ".so", ".dylib":
		return "application/x-sharedlib"
	case ".sh", ".bash":
		return "application/x-sh"
	case ".bat", ".cmd":
		return "application/x-bat"
	case ".ps1", ".psm1":
		return "application/x-powershell"
	case ".msi":
		return "application/x-msi"
	case ".jar":
		return "application/java-archive"
	}
	return ""
}

// MIME types that sniff reports for executables.
const (
	mimeELF     = "application/x-executable"
	mimePE      = "application/vnd.microsoft.portable-executable"
	mimeMachO   = "application/x-mach-binary"
	mimeShebang = "text/x-shellscript"
)

func executableMIME(m string) bool {
	switch m {
	case mimeELF, mimePE, mimeMachO, mimeShebang:
		return true
	}
	return false
}

// sniff is the MIME type of content starting with head: executables by
// their magic numbers (ELF, PE/DOS "MZ", Mach-O and universal binaries, "#!"
// scripts), anything else by net/http.DetectContentType.
func sniff(head []byte) string {
	switch {
	case bytes.HasPrefix(head, []byte("\x7fELF")):
		return mimeELF
	case bytes.HasPrefix(head, []byte("MZ")):
		return mimePE
	case bytes.HasPrefix(head, []byte("\xfe\xed\xfa\xce")), bytes.HasPrefix(head, []byte("\xfe\xed\xfa\xcf")),
		bytes.HasPrefix(head, []byte("\xce\xfa\xed\xfe")), bytes.HasPrefix(head, []byte("\xcf\xfa\xed\xfe")),
		bytes.HasPrefix(head, []byte("\xca\xfe\xba\xbe")):
		return mimeMachO
	case bytes.HasPrefix(head, []byte("#!")):
		return mimeShebang
	}
	return http.DetectContentType(head)
}

// contentType is what a file is served as: by its extension for the types
// bundles hold, else what its content sniffed as.
func contentType(name, sniffed string) string {
	switch ext(name) {
	case ".html", ".htm":
		return "text/html; charset=utf-8"
	case ".css":
		return "text/css; charset=utf-8"
	case ".js", ".mjs":
		return "text/javascript; charset=utf-8"
	case ".json", ".qext", ".map":
		return "application/json"
	case ".txt":
		return "text/plain; charset=utf-8"
	case ".md":
		return "text/markdown; charset=utf-8"
	case ".xml":
		return "application/xml"
	case ".svg":
		return "image/svg+xml"
	case ".png":
		return "image/png"
	case ".jpg", ".jpeg":
		return "image/jpeg"
	case ".gif":
		return "image/gif"
	case ".webp":
		return "image/webp"
	case ".ico":
		return "image/x-icon"
	case ".woff":
		return "font/woff"
	case ".woff2":
		return "font/woff2"
	case ".ttf":
		return "font/ttf"
	case ".otf":
		return "font/otf"
	case ".eot":
		return "application/vnd.ms-fontobject"
	case ".wasm":
		return "application/wasm"
	}
	return sniffed
}
