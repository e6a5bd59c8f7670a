package decisions

import (
	"strconv"
	"unicode/utf8"
	"unsafe"

	"github.com/rulekeeper/rulekeeper/authz"
	"github.com/rulekeeper/rulekeeper/resources/jsonwrite"
)

// The body and the answer of POST /authz/check are read and written by
// hand when they have the usual shape: encoding/json (a json.Decoder and
// its buffer per request, a string per value, reflection both ways) cost
// about 12 µs of a request's 250 (bench/README.md, issue 12). Anything
// else goes through apierror.DecodeJSON, which also words every error;
// FuzzCheckBody holds the two to the same result, TestAppendDecision the
// answer to encoding/json's bytes.

// decodeCheck reads body into req when it is the usual question: one
// object whose members are subject {id}, action, resource {type, id,
// spaceId, owner, name} and context {environment}, each at most once and
// spelled so, every value a string of printable ASCII without escapes. It
// answers false, with req untouched, for anything else (the caller then
// decodes with apierror.DecodeJSON, which words the errors). The strings
// share one copy of the body (Fiber reuses the body's buffer for the
// connection's next request), and the parts are one allocation.
func decodeCheck(body []byte, req *checkRequest) bool {
	p := scanner{b: body}
	if !p.byte('{') {
		return false
	}
	var objects uint8 // subject, resource, context
	for first := true; ; first = false {
		key, ok := p.member(first)
		switch {
		case !ok:
			return false
		case key == keyEnd:
			p.ws()
			if p.i != len(p.b) {
				return false
			}
			return p.fill(req, objects)
		case key == keyAction:
			ok = p.str(keyAction)
		case key == keySubject || key == keyResource || key == keyContext:
			bit := uint8(1) << (key - keySubject)
			ok = objects&bit == 0 && p.object(key)
			objects |= bit
		default:
			return false
		}
		if !ok {
			return false
		}
	}
}

// fill sets req from the accepted body: one copy of the body, the strings
// pointing into it, kept with the parts when it fits in their text.
func (p *scanner) fill(req *checkRequest, objects uint8) bool {
	parts := new(checkParts)
	var s string
	if n := copy(parts.text[:], p.b); n == len(p.b) {
		// Never written again: the strings may alias it.
		s = unsafe.String(unsafe.SliceData(parts.text[:]), n)
	} else {
		s = string(p.b)
	}
	val := func(k checkKey) string { return s[p.offs[k][0]:p.offs[k][1]] }
	out := checkRequest{Action: val(keyAction)}
	if objects&(1<<(keySubject-keySubject)) != 0 {
		parts.sub.ID = val(keyID)
		out.Subject = &parts.sub
	}
	if objects&(1<<(keyResource-keySubject)) != 0 {
		parts.res.Type, parts.res.ID, parts.res.SpaceID = val(keyType), val(keyResourceID), val(keySpaceID)
		parts.res.Owner, parts.res.Name = val(keyOwner), val(keyName)
		out.Resource = &parts.res
	}
	if objects&(1<<(keyContext-keySubject)) != 0 {
		parts.ctx.Environment = val(keyEnvironment)
		out.Context = &parts.ctx
	}
	*req = out
	return true
}

// checkParts are the objects of a check body and the bytes of its strings,
// allocated together: one allocation per body of up to checkText bytes
// (the usual question by ids is under 200).
type checkParts struct {
	sub authz.Subject
	res checkResource
	ctx struct {
		Environment string `json:"environment"`
	}
	text [checkText]byte
}

const checkText = 256

// checkKey is a member name decodeCheck knows; the string members are
// also the slots of their values.
type checkKey uint8

const (
	keyAction checkKey = iota
	keyID              // subject.id
	keyType
	keyResourceID // resource.id
	keySpaceID
	keyOwner
	keyName
	keyEnvironment
	keySubject // the objects
	keyResource
	keyContext
	keyEnd // the closing brace
	keyUnknown
)

// checkKeys are the names of the keys up to keySubject, in order.
var checkKeys = [...]string{"action", "id", "type", "id", "spaceId", "owner", "name", "environment", "subject", "resource", "context"}

// scanner reads the narrow JSON of decodeCheck. A string value is
// recorded as the offsets of its contents in b, in the slot of its key.
type scanner struct {
	b    []byte
	i    int
	set  uint16 // the slots filled
	offs [keySubject][2]int
}

func (p *scanner) ws() {
	for p.i < len(p.b) {
		switch p.b[p.i] {
		case ' ', '\t', '\n', '\r':
			p.i++
		default:
			return
		}
	}
}

// byte reads c (after whitespace).
func (p *scanner) byte(c byte) bool {
	p.ws()
	if p.i < len(p.b) && p.b[p.i] == c {
		p.i++
		return true
	}
	return false
}

// member reads the next member's key and its colon; keyEnd at the
// object's closing brace, ok false when the JSON is not of the usual
// shape.
func (p *scanner) member(first bool) (checkKey, bool) {
	if p.byte('}') {
		return keyEnd, true
	}
	if !first && !p.byte(',') {
		return 0, false
	}
	v, ok := p.span()
	if !ok || !p.byte(':') {
		return 0, false
	}
	name := p.b[v[0]:v[1]]
	for k, n := range checkKeys {
		if string(name) == n { // compared in place, not converted
			return checkKey(k), true
		}
	}
	return keyUnknown, true
}

// span reads a string of printable ASCII without escapes and answers the
// offsets of its contents.
func (p *scanner) span() ([2]int, bool) {
	if !p.byte('"') {
		return [2]int{}, false
	}
	start := p.i
	for j := start; j < len(p.b); j++ {
		switch c := p.b[j]; {
		case c == '"':
			p.i = j + 1
			return [2]int{start, j}, true
		case c == '\\' || c < 0x20 || c >= utf8.RuneSelf:
			return [2]int{}, false
		}
	}
	return [2]int{}, false
}

// str reads a string value into slot k, which must be empty.
func (p *scanner) str(k checkKey) bool {
	if p.set&(1<<k) != 0 {
		return false // repeated: encoding/json would keep the last
	}
	v, ok := p.span()
	p.offs[k], p.set = v, p.set|1<<k
	return ok
}

// object reads the object of member obj: string members only, each known
// to that object and given once.
func (p *scanner) object(obj checkKey) bool {
	if !p.byte('{') {
		return false
	}
	for first := true; ; first = false {
		key, ok := p.member(first)
		if !ok {
			return false
		}
		switch {
		case key == keyEnd:
			return true
		case obj == keySubject && key == keyID,
			obj == keyContext && key == keyEnvironment:
		case obj == keyResource && key == keyID:
			key = keyResourceID
		case obj == keyResource && key >= keyType && key <= keyName && key != keyResourceID:
		default:
			return false
		}
		if !p.str(key) {
			return false
		}
	}
}

// appendDecision appends d as encoding/json writes it (Fiber's c.JSON):
// the same members, order, escaping and nulls.
func appendDecision(b []byte, d *authz.Decision) []byte {
	b = append(b, `{"allow":`...)
	b = strconv.AppendBool(b, d.Allow)
	b = append(b, `,"grants":`...)
	b = appendList(b, d.Grants, appendGrant)
	b = append(b, `,"denies":`...)
	b = appendList(b, d.Denies, appendDeny)
	b = append(b, `,"revision":`...)
	b = strconv.AppendInt(b, d.Revision, 10)
	return append(b, '}')
}

// appendGrant appends g as encoding/json writes an authz.Grant.
func appendGrant(b []byte, g authz.Grant) []byte {
	b = append(b, `{"kind":`...)
	b = jsonwrite.HTMLString(b, g.Kind)
	b = append(b, `,"id":`...)
	b = jsonwrite.HTMLString(b, g.ID)
	if g.Name != "" {
		b = append(b, `,"name":`...)
		b = jsonwrite.HTMLString(b, g.Name)
	}
	return append(b, '}')
}

// appendDeny appends x as encoding/json writes an authz.Deny.
func appendDeny(b []byte, x authz.Deny) []byte {
	b = append(b, `{"kind":`...)
	b = jsonwrite.HTMLString(b, x.Kind)
	b = append(b, `,"reason":`...)
	b = jsonwrite.HTMLString(b, x.Reason)
	return append(b, '}')
}

// appendZAnswer appends the AuthZEN answer to d, zAnswer(d), as
// encoding/json writes it (the context's members in sorted order): no
// map to build and no reflection on the decision path.
func appendZAnswer(b []byte, d *authz.Decision) []byte {
	b = append(b, `{"decision":`...)
	b = strconv.AppendBool(b, d.Allow)
	b = append(b, `,"context":{`...)
	reason := "no_grant"
	switch {
	case d.Allow:
		reason = "granted"
	case len(d.Denies) > 0:
		reason = d.Denies[0].Reason
		b = append(b, `"denies":`...)
		b = appendList(b, d.Denies, appendDeny)
		b = append(b, ',')
	}
	b = append(b, `"grants":`...)
	b = appendList(b, d.Grants, appendGrant)
	b = append(b, `,"reason":`...)
	b = jsonwrite.HTMLString(b, reason)
	b = append(b, `,"revision":`...)
	b = strconv.AppendInt(b, d.Revision, 10)
	return append(b, "}}"...)
}

// appendList appends items as a JSON array (null for a nil slice, as
// encoding/json), each written by item.
func appendList[T any](b []byte, items []T, item func([]byte, T) []byte) []byte {
	if items == nil {
		return append(b, "null"...)
	}
	b = append(b, '[')
	for i, x := range items {
		if i > 0 {
			b = append(b, ',')
		}
		b = item(b, x)
	}
	return append(b, ']')
}

// zObjects are the members of the usual AuthZEN evaluation body that
// decodeZEvaluation reads: each an object of string members, whose values
// go to the slots from slot on.
var zObjects = [...]struct {
	name   string
	fields []string
	slot   int
}{
	{"subject", []string{"type", "id"}, 0},
	{"action", []string{"name"}, 2},
	{"resource", []string{"type", "id"}, 3},
	{"context", []string{"environment"}, 5},
}

// zParts are the objects of an evaluation body, allocated together.
type zParts struct {
	sub zSubject
	act zAction
	res zResource
	ctx zContext
}

// decodeZEvaluation reads body into ev when it is the usual evaluation:
// one object whose members are subject {type, id}, action {name},
// resource {type, id} and context {environment}, each at most once and
// spelled so, every value a string of printable ASCII without escapes
// (no properties). It answers false, with ev untouched, for anything
// else: the caller then decodes with encoding/json, which also words the
// errors (FuzzEvaluationBody holds the two to the same result). The
// strings share one copy of the body.
func decodeZEvaluation(body []byte, ev *zEvaluation) bool {
	p := scanner{b: body}
	if !p.byte('{') {
		return false
	}
	var offs [6][2]int
	var objects, slots uint16
	for first := true; ; first = false {
		if p.byte('}') {
			break
		}
		if !first && !p.byte(',') {
			return false
		}
		k, ok := p.span()
		if !ok || !p.byte(':') || !p.byte('{') {
			return false
		}
		o := -1
		for i := range zObjects {
			if string(body[k[0]:k[1]]) == zObjects[i].name {
				o = i
			}
		}
		if o < 0 || objects&(1<<o) != 0 {
			return false
		}
		objects |= 1 << o
		for firstField := true; ; firstField = false {
			if p.byte('}') {
				break
			}
			if !firstField && !p.byte(',') {
				return false
			}
			f, ok := p.span()
			if !ok || !p.byte(':') {
				return false
			}
			slot := -1
			for i, name := range zObjects[o].fields {
				if string(body[f[0]:f[1]]) == name {
					slot = zObjects[o].slot + i
				}
			}
			if slot < 0 || slots&(1<<slot) != 0 {
				return false
			}
			slots |= 1 << slot
			if offs[slot], ok = p.span(); !ok {
				return false
			}
		}
	}
	p.ws()
	if p.i != len(body) {
		return false
	}
	s := string(body)
	val := func(slot int) string { return s[offs[slot][0]:offs[slot][1]] }
	parts := new(zParts)
	out := zEvaluation{}
	if objects&1 != 0 {
		parts.sub.Type, parts.sub.ID = val(0), val(1)
		out.Subject = &parts.sub
	}
	if objects&2 != 0 {
		parts.act.Name = val(2)
		out.Action = &parts.act
	}
	if objects&4 != 0 {
		parts.res.Type, parts.res.ID = val(3), val(4)
		out.Resource = &parts.res
	}
	if objects&8 != 0 {
		parts.ctx.Environment = val(5)
		out.Context = &parts.ctx
	}
	*ev = out
	return true
}
