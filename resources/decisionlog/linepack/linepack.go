// Package linepack stores a batch of decision log lines (JSON objects, one
// per line) in a compact column-wise form and reads them back byte for
// byte.
//
// A database pays per stored byte (the embedded FerretDB about 50 ns a
// byte), and DEFLATE over the lines as text leaves about 80 bytes an entry:
// most of them are fields that change from entry to entry but predictably
// (decision ids from one counter, timestamps microseconds apart, request
// ids from a per-process prefix and a counter, nanosecond timers), and
// references to the same few hundred subjects and resources. Split into
// columns, those cost a byte or two each: an entry's object members go to
// one column per member path; a decision id is stored as the difference
// from the previous one, a timestamp as the nanoseconds since the previous
// one, a request id as what differs from the previous one, the decision
// timer as its difference from the sum of the other timers, and any other
// value (the subject, the resource, the result, …) as an index into a
// per-batch table of the distinct values. Then the whole is compressed with
// DEFLATE.
//
// Nothing is assumed of the lines: a value a column cannot code (a decision
// id that is not an ObjectID, a time that does not print back the same, a
// line that is not a JSON object without spaces) is stored as it is, so
// any batch of byte strings reads back identical (FuzzRoundTrip).
package linepack

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"strconv"
	"time"
	"unsafe"

	"github.com/klauspost/compress/flate"
)

// The form (before DEFLATE): magic, the number of lines, their length in
// all, the number of columns, each column's parent (its number plus one; 0 for the root, the
// first), key, kind and the lengths of its two streams, then the streams:
// of each column its values, then the new values of its table (apart, so
// that DEFLATE finds the likeness of, say, two subjects next to each other). The kinds a path
// gets are fixed by the encoder (paths below); the decoder reads them from
// the header, so that a later version may code other paths otherwise and
// still read what this one wrote. (Columns are told apart by parent and
// key, not by path: a key may hold a dot.)
const magic = "LP1"

type kind byte

const (
	kindTable    kind = iota + 1 // an index into the column's distinct values (a new value inline)
	kindObject                   // an object: its keys (a table of key lists), each member in its path's column
	kindObjectID                 // a 24-hex-digit string: the difference from the previous one
	kindTime                     // an RFC 3339 UTC time with nanoseconds: ns since the previous one
	kindDelta                    // the previous value's length in common, then the rest
	kindInt                      // an integer (zigzag varint)
	kindIntSum                   // an integer: its difference from the sum of the object's kindInt members before it
	kindLast                     // not a kind: one past the last
)

// paths are the kinds of the decision log entry's members
// (decisionlog.Entry); every other member is a kindTable. Paths join the
// keys as they are written (escapes kept) with dots; the root is "".
var paths = map[string]kind{
	"":                                     kindObject,
	"decision_id":                          kindObjectID,
	"timestamp":                            kindTime,
	"input":                                kindObject,
	"request":                              kindObject,
	"request.id":                           kindDelta,
	"metrics":                              kindObject,
	"metrics.timer_rulekeeper_hydrate_ns":  kindInt,
	"metrics.timer_rego_query_eval_ns":     kindInt,
	"metrics.timer_rulekeeper_decision_ns": kindIntSum,
}

// A typed column's value starts with a tag: what follows is the value as
// written (varint length, bytes) or coded by the column's kind.
const (
	tagRaw   = 0
	tagCoded = 1
)

// A column's state refers to bytes of the batch being packed instead of
// copying them (prev: the lines', which stay put for Encode's call; the
// keys of index: its own vals', as strings: unsafeString), and forgets
// them (use) before it is used in the next batch.
func unsafeString(b []byte) string {
	if len(b) == 0 {
		return ""
	}
	return unsafe.String(&b[0], len(b))
}

// column is one column's stream and the state its coding depends on.
type column struct {
	path   string  // for its kind (paths)
	key    []byte  // its key in its parent object
	parent *column // nil: the root
	num    int     // its place among the batch's columns
	kind   kind
	buf    []byte
	vals   []byte         // the new values of its table
	values [][]byte       // the table: slices of vals
	index  map[string]int // kindTable, kindObject (key lists): value → index
	// kindObject: the member columns by key, and as the last object had
	// them, in order (members come in the same order line after line).
	children map[string]*column
	order    []*column
	prev     []byte    // kindDelta: the previous value
	prevA    uint32    // kindObjectID: the previous id's time
	prevB    uint64    // kindObjectID: the previous id's other 8 bytes
	prevT    int64     // kindTime: the previous time, ns since the epoch
	last     int       // kindTable, kindObject: the index of the previous value (prev), -1: none
	shape    []*column // kindObject: the member columns of the previous object
	gen      uint64    // the batch it was last used in (Encoder.gen)
}

// use readies c for the current batch: on its first use in it, its
// stream and state are emptied (the maps keep their room) and it joins the
// batch's columns, in the order of first use.
func (e *Encoder) use(c *column) *column {
	if c.gen == e.gen {
		return c
	}
	c.gen = e.gen
	c.buf, c.vals, c.prev, c.last, c.shape = c.buf[:0], c.vals[:0], nil, -1, c.shape[:0]
	clear(c.values)
	c.values = c.values[:0]
	clear(c.index)
	c.prevA, c.prevB, c.prevT = 0, 0, 0
	c.num = len(e.cols)
	e.cols = append(e.cols, c)
	return c
}

// span is a value of a line and the column it goes to: an object coded as
// such is followed by its members' spans (kids of them, nested ones
// included), in the order the decoder reads them back.
type span struct {
	key, val []byte
	col      *column
	kids     int // an object: its members' spans that follow; -1: a value
}

// Encoder packs batches; it keeps its buffers and compressor from batch to
// batch. An Encoder is not safe for concurrent use.
type Encoder struct {
	root    *column // the columns persist from batch to batch (their maps and buffers)
	gen     uint64
	cols    []*column // of this batch
	spans   []span
	scratch []byte // a key list; the header
	sum     int64  // kindInt values since the last object began
	deflate *flate.Writer
}

func newColumn(parent *column, key []byte) *column {
	path := string(key)
	if parent != nil && parent.path != "" {
		path = parent.path + "." + path
	}
	k, ok := paths[path]
	switch {
	case parent == nil:
		k = kindObject
	case !ok || path == "": // a member named "" of the root is not the root
		k = kindTable
	}
	return &column{path: path, key: key, parent: parent, kind: k}
}

// Encode packs lines into dst (which it overwrites and returns): the
// column-wise form, DEFLATE-compressed.
func (e *Encoder) Encode(dst []byte, lines [][]byte) ([]byte, error) {
	e.gen++
	e.cols = e.cols[:0]
	if e.root == nil {
		e.root = newColumn(nil, nil)
	}
	root := e.use(e.root)
	for _, l := range lines {
		// First split the line into spans (an object that turns out not
		// to be one is then taken whole), then write them.
		e.spans = e.spans[:0]
		if end := e.split(root, nil, l, 0); end != len(l) {
			e.spans = append(e.spans[:0], span{val: l, col: root, kids: -1})
		}
		for i := range e.spans {
			e.write(&e.spans[i], i)
		}
	}
	// The header, then the streams.
	h := append(e.scratch[:0], magic...)
	h = binary.AppendUvarint(h, uint64(len(lines)))
	total := 0
	for _, l := range lines {
		total += len(l)
	}
	h = binary.AppendUvarint(h, uint64(total))
	h = binary.AppendUvarint(h, uint64(len(e.cols)))
	for _, c := range e.cols {
		parent := 0
		if c.parent != nil {
			parent = c.parent.num + 1
		}
		h = binary.AppendUvarint(h, uint64(parent))
		h = appendRaw(h, c.key)
		h = append(h, byte(c.kind))
		h = binary.AppendUvarint(h, uint64(len(c.buf)))
		h = binary.AppendUvarint(h, uint64(len(c.vals)))
	}
	e.scratch = h[:0]
	out := bytes.NewBuffer(dst[:0])
	if e.deflate == nil {
		// klauspost/compress's level 1: five times as fast as
		// compress/flate's BestSpeed on these streams, the same RFC 1951.
		e.deflate, _ = flate.NewWriter(nil, flate.BestSpeed)
	}
	w := e.deflate
	w.Reset(out)
	if _, err := w.Write(h); err != nil {
		return nil, err
	}
	for _, c := range e.cols {
		if _, err := w.Write(c.buf); err != nil {
			return nil, err
		}
		if _, err := w.Write(c.vals); err != nil {
			return nil, err
		}
	}
	if err := w.Close(); err != nil {
		return nil, err
	}
	if cap(e.scratch) > 1<<20 {
		e.scratch = nil
	}
	return out.Bytes(), nil
}

// split appends the spans of the value starting at v[i], whose column is
// c, and answers where it ends.
func (e *Encoder) split(c *column, key, v []byte, i int) int {
	if c.kind != kindObject {
		end := skipValue(v, i)
		e.spans = append(e.spans, span{key: key, val: v[i:end], col: c, kids: -1})
		return end
	}
	at := len(e.spans)
	e.spans = append(e.spans, span{key: key, col: c})
	end, ok := e.members(c, v, i)
	if !ok { // not an object without spaces: as it is
		e.spans = e.spans[:at+1]
		end = skipValue(v, i)
	}
	e.spans[at].val = v[i:end]
	e.spans[at].kids = -1
	if ok {
		e.spans[at].kids = len(e.spans) - at - 1
	}
	return end
}

// members splits the members of the object starting at v[i]; ok is false
// when it is not a JSON object without spaces.
func (e *Encoder) members(c *column, v []byte, i int) (end int, ok bool) {
	if i+1 >= len(v) || v[i] != '{' {
		return 0, false
	}
	j := i + 1
	if v[j] == '}' {
		return j + 1, true
	}
	for m := 0; ; m++ {
		if j >= len(v) || v[j] != '"' {
			return 0, false
		}
		k := skipString(v, j)
		if k >= len(v) || v[k] != ':' {
			return 0, false
		}
		key := v[j+1 : k-1]
		ch := e.child(c, m, key)
		j = e.split(ch, key, v, k+1)
		switch {
		case j >= len(v):
			return 0, false
		case v[j] == ',':
			j++
		case v[j] == '}':
			return j + 1, true
		default:
			return 0, false
		}
	}
}

// child is the column of object column c's member key, the m-th.
func (e *Encoder) child(c *column, m int, key []byte) *column {
	if m < len(c.order) && bytes.Equal(c.order[m].key, key) {
		return e.use(c.order[m])
	}
	ch := c.children[string(key)]
	if ch == nil {
		if c.children == nil {
			c.children = map[string]*column{}
		}
		ch = newColumn(c, bytes.Clone(key))
		c.children[string(key)] = ch
	}
	e.use(ch)
	if m < len(c.order) {
		c.order[m] = ch
	} else if m == len(c.order) {
		c.order = append(c.order, ch)
	}
	return ch
}

func appendRaw(b, v []byte) []byte {
	b = binary.AppendUvarint(b, uint64(len(v)))
	return append(b, v...)
}

func zigzag(v int64) uint64 { return uint64(v<<1) ^ uint64(v>>63) }

func unzigzag(u uint64) int64 { return int64(u>>1) ^ -int64(u&1) }

// write writes the span at spans[i] to its column.
func (e *Encoder) write(s *span, i int) {
	c := s.col
	v := s.val
	switch c.kind {
	case kindTable:
		c.buf = c.tableRef(c.buf, v)
	case kindDelta:
		n := commonPrefix(c.prev, v)
		c.buf = binary.AppendUvarint(c.buf, uint64(n))
		c.buf = appendRaw(c.buf, v[n:])
		c.prev = v
	case kindObject:
		if s.kids < 0 {
			c.buf = append(c.buf, tagRaw)
			c.buf = appendRaw(c.buf, v)
			return
		}
		// Its key list: those of its members (not of theirs); most often
		// the previous object's (the same member columns).
		c.buf = append(c.buf, tagCoded)
		e.sum = 0
		n, same := 0, c.last >= 0
		for j := i + 1; j <= i+s.kids; j++ {
			same = same && n < len(c.shape) && c.shape[n] == e.spans[j].col
			n++
			if k := e.spans[j].kids; k > 0 {
				j += k
			}
		}
		if same && n == len(c.shape) {
			c.buf = binary.AppendUvarint(c.buf, uint64(c.last))
			return
		}
		c.shape = c.shape[:0]
		keys := e.scratch[:0]
		keys = binary.AppendUvarint(keys, uint64(n))
		for j := i + 1; j <= i+s.kids; j++ {
			keys = appendRaw(keys, e.spans[j].key)
			c.shape = append(c.shape, e.spans[j].col)
			if k := e.spans[j].kids; k > 0 {
				j += k
			}
		}
		e.scratch = keys
		c.buf = c.tableRef(c.buf, keys)
	default:
		if !e.coded(c, v) {
			c.buf = append(c.buf, tagRaw)
			c.buf = appendRaw(c.buf, v)
		}
	}
}

// tableRef appends to b the index of v in c's table; a value new to the
// table is added to it, and to c.vals. The table's keys and prev are
// slices of c.vals, which only grows during a batch (v may be scratch
// memory the caller writes over next).
func (c *column) tableRef(b, v []byte) []byte {
	// Most columns hold one value line after line: compared first.
	if c.last >= 0 && bytes.Equal(c.prev, v) {
		return binary.AppendUvarint(b, uint64(c.last))
	}
	if c.index == nil {
		c.index = map[string]int{}
	}
	i, ok := c.index[string(v)]
	if !ok {
		i = len(c.values)
		c.vals = appendRaw(c.vals, v)
		kept := c.vals[len(c.vals)-len(v):]
		c.index[unsafeString(kept)] = i
		c.values = append(c.values, kept)
	}
	c.last, c.prev = i, c.values[i]
	return binary.AppendUvarint(b, uint64(i))
}

func commonPrefix(a, b []byte) int {
	n := min(len(a), len(b))
	for i := range n {
		if a[i] != b[i] {
			return i
		}
	}
	return n
}

// coded writes v coded by c's kind (its tag first), or answers false when
// the kind cannot code it.
func (e *Encoder) coded(c *column, v []byte) bool {
	switch c.kind {
	case kindObjectID:
		var id [12]byte
		if len(v) != 26 || v[0] != '"' || v[25] != '"' || !lowerHex(v[1:25]) {
			return false
		}
		_, _ = hex.Decode(id[:], v[1:25])
		a, b := binary.BigEndian.Uint32(id[:4]), binary.BigEndian.Uint64(id[4:])
		c.buf = append(c.buf, tagCoded)
		c.buf = binary.AppendUvarint(c.buf, zigzag(int64(int32(a-c.prevA))))
		c.buf = binary.AppendUvarint(c.buf, zigzag(int64(b-c.prevB)))
		c.prevA, c.prevB = a, b
	case kindTime:
		ns, ok := c.parseTime(v)
		if !ok {
			return false
		}
		c.buf = append(c.buf, tagCoded)
		c.buf = binary.AppendUvarint(c.buf, zigzag(ns-c.prevT))
		c.prevT = ns
	case kindInt, kindIntSum:
		n, ok := parseInt(v)
		if !ok {
			return false
		}
		c.buf = append(c.buf, tagCoded)
		if c.kind == kindInt {
			c.buf = binary.AppendUvarint(c.buf, zigzag(n))
			e.sum += n
		} else {
			c.buf = binary.AppendUvarint(c.buf, zigzag(n-e.sum))
		}
	default:
		return false
	}
	return true
}

func lowerHex(b []byte) bool {
	for _, c := range b {
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}

// parseTime reads a quoted time that appendTime writes back identically.
// A time in the same second as the previous one (prev: its text) is read
// from its fraction alone.
func (c *column) parseTime(v []byte) (int64, bool) {
	if len(v) < 2 || v[0] != '"' || v[len(v)-1] != '"' {
		return 0, false
	}
	// "2006-01-02T15:04:05.999999999Z": the fraction starts at 21.
	const dot = 20
	if c.prevT >= 0 && len(c.prev) > dot && len(v) > dot+3 && v[dot] == '.' && v[len(v)-2] == 'Z' &&
		c.prev[dot] == '.' && bytes.Equal(c.prev[:dot], v[:dot]) {
		frac := v[dot+1 : len(v)-2]
		if len(frac) <= 9 && frac[len(frac)-1] != '0' { // RFC3339Nano trims trailing zeros
			var f int64
			digits := true
			for _, d := range frac {
				digits = digits && d >= '0' && d <= '9'
				f = f*10 + int64(d-'0')
			}
			if digits {
				for range 9 - len(frac) {
					f *= 10
				}
				ns := c.prevT - c.prevT%1e9 + f
				c.prev = v
				return ns, true
			}
		}
	}
	t, err := time.Parse(time.RFC3339Nano, string(v[1:len(v)-1]))
	if err != nil {
		return 0, false
	}
	ns := t.UnixNano()
	var buf [40]byte
	if !bytes.Equal(appendTime(buf[:0], ns), v) {
		return 0, false
	}
	c.prev = v
	return ns, true
}

func appendTime(b []byte, ns int64) []byte {
	b = append(b, '"')
	b = time.Unix(0, ns).UTC().AppendFormat(b, time.RFC3339Nano)
	return append(b, '"')
}

// parseInt reads an integer that strconv writes back identically.
func parseInt(v []byte) (int64, bool) {
	if len(v) == 0 || len(v) > 20 {
		return 0, false
	}
	n, err := strconv.ParseInt(string(v), 10, 64)
	if err != nil {
		return 0, false
	}
	var buf [24]byte
	return n, bytes.Equal(strconv.AppendInt(buf[:0], n, 10), v)
}

// skipString answers the index after the string starting at v[i] (a
// quote), or len(v) when it does not end.
func skipString(v []byte, i int) int {
	for j := i + 1; j < len(v); j++ {
		switch v[j] {
		case '"':
			return j + 1
		case '\\':
			j++
		}
	}
	return len(v)
}

// skipValue answers the index after the value starting at v[i]: a string,
// an object or array (to its matching bracket), or anything else up to the
// next comma or closing bracket. It does not validate. (One loop over the
// bytes: a call per string would cost more on lines of short strings.)
func skipValue(v []byte, i int) int {
	if i >= len(v) {
		return len(v)
	}
	switch v[i] {
	case '"':
		return skipString(v, i)
	case '{', '[':
		depth := 0
		for j := i; j < len(v); j++ {
			switch v[j] {
			case '"':
				for j++; j < len(v) && v[j] != '"'; j++ {
					if v[j] == '\\' {
						j++
					}
				}
			case '{', '[':
				depth++
			case '}', ']':
				if depth--; depth == 0 {
					return j + 1
				}
			}
		}
		return len(v)
	}
	for j := i; j < len(v); j++ {
		switch v[j] {
		case ',', '}', ']':
			return j
		}
	}
	return len(v)
}

// Decode reads back the lines Encode packed.
func Decode(packed []byte) ([][]byte, error) {
	raw, err := io.ReadAll(flate.NewReader(bytes.NewReader(packed)))
	if err != nil {
		return nil, fmt.Errorf("linepack: inflate: %w", err)
	}
	d := decoder{r: reader{b: raw}}
	if !bytes.HasPrefix(raw, []byte(magic)) {
		return nil, errors.New("linepack: not a packed batch")
	}
	d.r.i = len(magic)
	n := d.r.uvarint()
	total := d.r.uvarint()
	ncols := d.r.uvarint()
	if d.r.err != nil || n > uint64(len(raw)) || ncols > uint64(len(raw)) {
		return nil, errCorrupt
	}
	type head struct {
		parent uint64
		key    []byte
		kind   kind
		size   uint64
		vals   uint64
	}
	heads := make([]head, 0, ncols)
	for i := range ncols {
		parent := d.r.uvarint()
		key := d.r.bytes()
		k := kind(d.r.byte())
		size := d.r.uvarint()
		vals := d.r.uvarint()
		if d.r.err != nil || k == 0 || k >= kindLast || parent > i || (parent == 0) != (i == 0) {
			return nil, errCorrupt
		}
		heads = append(heads, head{parent, key, k, size, vals})
	}
	cols := make([]*dcolumn, len(heads))
	for i, h := range heads {
		rest := uint64(len(raw) - d.r.i)
		if h.size > rest || h.vals > rest-h.size {
			return nil, errCorrupt
		}
		at, mid := d.r.i, d.r.i+int(h.size)
		d.r.i = mid + int(h.vals)
		cols[i] = &dcolumn{kind: h.kind, r: reader{b: raw[at:mid]}, vals: reader{b: raw[mid:d.r.i]}}
		if i > 0 {
			p := cols[h.parent-1]
			if p.children == nil {
				p.children = map[string]*dcolumn{}
			}
			p.children[string(h.key)] = cols[i]
		}
	}
	if len(cols) == 0 && n > 0 {
		return nil, errCorrupt
	}
	// The lines are slices of one buffer (its size as written, within
	// reason: a damaged header may say anything).
	out := make([]byte, 0, min(total, 64<<20))
	ends := make([]int, 0, n)
	for range n {
		if out, err = d.value(cols[0], out); err != nil {
			return nil, err
		}
		ends = append(ends, len(out))
	}
	lines := make([][]byte, len(ends))
	start := 0
	for i, end := range ends {
		lines[i] = out[start:end:end]
		start = end
	}
	return lines, nil
}

var errCorrupt = errors.New("linepack: corrupt batch")

// reader reads a stream; its first error sticks.
type reader struct {
	b   []byte
	i   int
	err error
}

func (r *reader) uvarint() uint64 {
	if r.err != nil {
		return 0
	}
	v, n := binary.Uvarint(r.b[r.i:])
	if n <= 0 {
		r.err = errCorrupt
		return 0
	}
	r.i += n
	return v
}

func (r *reader) byte() byte {
	if r.err != nil || r.i >= len(r.b) {
		r.err = errCorrupt
		return 0
	}
	r.i++
	return r.b[r.i-1]
}

func (r *reader) bytes() []byte {
	n := r.uvarint()
	if r.err != nil || n > uint64(len(r.b)-r.i) {
		r.err = errCorrupt
		return nil
	}
	r.i += int(n)
	return r.b[r.i-int(n) : r.i]
}

// dcolumn is a column as the decoder reads it.
type dcolumn struct {
	kind     kind
	r        reader
	vals     reader // the new values of its table
	table    [][]byte
	shapes   [][]dmember // kindObject: the key lists of table, read
	children map[string]*dcolumn
	prev     []byte
	prevA    uint32
	prevB    uint64
	prevT    int64
}

// dmember is an object's member as the decoder writes it: the text before
// its value (its key), and the column of its value.
type dmember struct {
	text []byte
	col  *dcolumn
}

type decoder struct {
	r   reader
	sum int64
}

// value appends the next value of column c to out.
func (d *decoder) value(c *dcolumn, out []byte) ([]byte, error) {
	if c == nil {
		return nil, errCorrupt
	}
	r := &c.r
	switch c.kind {
	case kindTable:
		i := c.ref()
		if r.err != nil {
			return nil, r.err
		}
		return append(out, c.table[i]...), nil
	case kindDelta:
		n := r.uvarint()
		rest := r.bytes()
		if r.err != nil || n > uint64(len(c.prev)) {
			return nil, errCorrupt
		}
		c.prev = append(c.prev[:n], rest...)
		return append(out, c.prev...), nil
	}
	if tag := r.byte(); tag == tagRaw {
		v := r.bytes()
		if r.err != nil {
			return nil, r.err
		}
		return append(out, v...), nil
	} else if tag != tagCoded {
		return nil, errCorrupt
	}
	switch c.kind {
	case kindObject:
		return d.object(c, out)
	case kindObjectID:
		c.prevA += uint32(unzigzag(r.uvarint()))
		c.prevB += uint64(unzigzag(r.uvarint()))
		var id [12]byte
		binary.BigEndian.PutUint32(id[:4], c.prevA)
		binary.BigEndian.PutUint64(id[4:], c.prevB)
		out = append(out, '"')
		out = hex.AppendEncode(out, id[:])
		out = append(out, '"')
	case kindTime:
		c.prevT += unzigzag(r.uvarint())
		out = appendTime(out, c.prevT)
	case kindInt:
		n := unzigzag(r.uvarint())
		d.sum += n
		out = strconv.AppendInt(out, n, 10)
	case kindIntSum:
		out = strconv.AppendInt(out, unzigzag(r.uvarint())+d.sum, 10)
	}
	return out, r.err
}

// ref reads a table index (and a new value), answering the index.
func (c *dcolumn) ref() int {
	r := &c.r
	i := r.uvarint()
	switch {
	case r.err != nil:
		return 0
	case i < uint64(len(c.table)):
		return int(i)
	case i == uint64(len(c.table)):
		v := c.vals.bytes()
		if c.vals.err != nil {
			r.err = c.vals.err
			return 0
		}
		c.table = append(c.table, v)
		return int(i)
	}
	r.err = errCorrupt
	return 0
}

func (d *decoder) object(c *dcolumn, out []byte) ([]byte, error) {
	r := &c.r
	i := c.ref()
	if r.err != nil {
		return nil, r.err
	}
	if i == len(c.shapes) { // a new key list: read once
		list := c.table[i]
		kr := reader{b: list}
		count := kr.uvarint()
		if count > uint64(len(list)) {
			return nil, errCorrupt
		}
		members := make([]dmember, 0, count)
		for j := range count {
			k := kr.bytes()
			ch := c.children[string(k)]
			if kr.err != nil || ch == nil {
				return nil, errCorrupt
			}
			text := make([]byte, 0, len(k)+4)
			if j > 0 {
				text = append(text, ',')
			}
			text = append(append(append(text, '"'), k...), '"', ':')
			members = append(members, dmember{text, ch})
		}
		if kr.i != len(list) {
			return nil, errCorrupt
		}
		c.shapes = append(c.shapes, members)
	}
	d.sum = 0 // as the encoder: kindInt values since the last object began
	out = append(out, '{')
	for _, m := range c.shapes[i] {
		out = append(out, m.text...)
		var err error
		if out, err = d.value(m.col, out); err != nil {
			return nil, err
		}
	}
	return append(out, '}'), nil
}
