package rules

import (
	"fmt"
	"strings"
)

// maxDepth bounds the nesting of parentheses and negations, so a hostile
// condition cannot exhaust the stack.
const maxDepth = 200

// Parse parses a condition. An empty (or all-blank) condition parses to a
// nil Expr, which means "always". On a syntax error it returns one
// diagnostic (Field "condition") at the error's position.
//
// Grammar (keywords case-insensitive, precedence ! > and > or):
//
//	condition  = [ or ] .
//	or         = and { ( "or" | "||" ) and } .
//	and        = unary { ( "and" | "&&" ) unary } .
//	unary      = "!" unary | "(" or ")" | call | operand compareOp operand .
//	compareOp  = "=" | "!=" | "==" | "!==" | "like" | "matches" .
//	operand    = path | string .
//	call       = [ path "." ] name "(" [ operand { "," operand } ] ")" .
//	path       = word { "." ( word | number ) } .
func Parse(condition string) (Expr, []Diagnostic) {
	e, err := parse(condition)
	if err != nil {
		return nil, []Diagnostic{{Field: FieldCondition, Line: err.pos.Line, Column: err.pos.Column,
			Message: err.msg, Hint: err.hint, Severity: SeverityError}}
	}
	return e, nil
}

func parse(src string) (Expr, *syntaxError) {
	toks, err := newLexer(src).tokens()
	if err != nil {
		return nil, err
	}
	p := &parser{toks: toks}
	if p.peek().kind == tkEOF {
		return nil, nil
	}
	e, err := p.or(0)
	if err != nil {
		return nil, err
	}
	if t := p.peek(); t.kind != tkEOF {
		return nil, p.unexpected(t, "expected and, or or the end of the condition")
	}
	return e, nil
}

type parser struct {
	toks []token
	i    int
}

func (p *parser) peek() token { return p.toks[p.i] }
func (p *parser) peekAt(n int) token {
	if p.i+n < len(p.toks) {
		return p.toks[p.i+n]
	}
	return p.toks[len(p.toks)-1]
}
func (p *parser) next() token {
	t := p.toks[p.i]
	if p.i < len(p.toks)-1 {
		p.i++
	}
	return t
}

func (p *parser) unexpected(t token, want string) *syntaxError {
	msg := "unexpected " + t.describe()
	if t.kind == tkEOF {
		msg = "unexpected end of condition"
	}
	return &syntaxError{pos: t.pos, msg: msg, hint: want}
}

func isOr(t token) bool  { return t.kind == tkOr || t.keyword("or") }
func isAnd(t token) bool { return t.kind == tkAnd || t.keyword("and") }

func isKeyword(t token) bool {
	return t.keyword("and") || t.keyword("or") || t.keyword("like") || t.keyword("matches")
}

func (p *parser) or(depth int) (Expr, *syntaxError) {
	first, err := p.and(depth)
	if err != nil {
		return nil, err
	}
	ops := []Expr{first}
	for isOr(p.peek()) {
		p.next()
		x, err := p.and(depth)
		if err != nil {
			return nil, err
		}
		ops = append(ops, x)
	}
	return logical(Or, ops), nil
}

func (p *parser) and(depth int) (Expr, *syntaxError) {
	first, err := p.unary(depth)
	if err != nil {
		return nil, err
	}
	ops := []Expr{first}
	for isAnd(p.peek()) {
		p.next()
		x, err := p.unary(depth)
		if err != nil {
			return nil, err
		}
		ops = append(ops, x)
	}
	return logical(And, ops), nil
}

// logical builds a chain, flattening operands that are chains of the same
// operator (so "a and (b and c)" and "a and b and c" are the same tree).
func logical(op LogicalOp, ops []Expr) Expr {
	if len(ops) == 1 {
		return ops[0]
	}
	out := make([]Expr, 0, len(ops))
	for _, x := range ops {
		if l, ok := x.(*Logical); ok && l.Op == op {
			out = append(out, l.Operands...)
		} else {
			out = append(out, x)
		}
	}
	return &Logical{Op: op, Operands: out}
}

func (p *parser) unary(depth int) (Expr, *syntaxError) {
	if depth > maxDepth {
		return nil, &syntaxError{pos: p.peek().pos, msg: "condition is nested too deeply"}
	}
	t := p.peek()
	switch {
	case t.kind == tkNot:
		p.next()
		x, err := p.unary(depth + 1)
		if err != nil {
			return nil, err
		}
		return &Not{X: x, Pos: t.pos}, nil
	case t.kind == tkLParen:
		p.next()
		if p.peek().kind == tkRParen {
			return nil, &syntaxError{pos: p.peek().pos, msg: "empty parentheses", hint: "put a condition between ( and )"}
		}
		x, err := p.or(depth + 1)
		if err != nil {
			return nil, err
		}
		if c := p.peek(); c.kind != tkRParen {
			if c.kind == tkEOF {
				return nil, &syntaxError{pos: t.pos, msg: "unclosed parenthesis", hint: "add the matching )"}
			}
			return nil, p.unexpected(c, "expected ) or a logical operator")
		}
		p.next()
		return x, nil
	}
	left, call, err := p.operand()
	if err != nil {
		return nil, err
	}
	op, ok := compareOp(p.peek())
	if call != nil {
		if ok {
			return nil, &syntaxError{pos: p.peek().pos, msg: fmt.Sprintf("%s() is a condition of its own and cannot be compared", call.Name),
				hint: fmt.Sprintf("write %s on its own, or negate it with !", Format(call))}
		}
		return call, nil
	}
	if !ok {
		nt := p.peek()
		hint := "expected a comparison operator: =, !=, ==, !==, like or matches"
		if nt.kind == tkEOF || isAnd(nt) || isOr(nt) || nt.kind == tkRParen {
			if path, isPath := left.(*Path); isPath {
				hint = fmt.Sprintf("compare the attribute with a value, e.g. %s = \"...\"", path.String())
			}
			return nil, &syntaxError{pos: left.Position(),
				msg: fmt.Sprintf("%s is not a condition: a comparison operator is missing", describeOperand(left)), hint: hint}
		}
		return nil, p.unexpected(nt, hint)
	}
	opTok := p.next()
	right, rcall, err := p.operand()
	if err != nil {
		return nil, err
	}
	if rcall != nil {
		return nil, &syntaxError{pos: rcall.Position(), msg: fmt.Sprintf("%s() is a condition of its own and cannot be compared", rcall.Name)}
	}
	if op2, ok := compareOp(p.peek()); ok {
		return nil, &syntaxError{pos: p.peek().pos, msg: fmt.Sprintf("comparisons cannot be chained (%s after %s)", op2, op),
			hint: "join the comparisons with and / or"}
	}
	return &Compare{Op: op, Left: left, Right: right, OpPos: opTok.pos}, nil
}

func describeOperand(o Operand) string {
	switch o := o.(type) {
	case *Path:
		return o.String()
	case *Literal:
		return Quote(o.Value)
	}
	return "operand"
}

func compareOp(t token) (CompareOp, bool) {
	switch {
	case t.kind == tkEq:
		return OpEq, true
	case t.kind == tkNe:
		return OpNe, true
	case t.kind == tkEqCase:
		return OpEqCase, true
	case t.kind == tkNeCase:
		return OpNeCase, true
	case t.keyword("like"):
		return OpLike, true
	case t.keyword("matches"):
		return OpMatches, true
	}
	return 0, false
}

// operand parses a path, a string or a call; exactly one of the operand
// and the call is non-nil on success.
func (p *parser) operand() (Operand, *Call, *syntaxError) {
	t := p.peek()
	switch {
	case t.kind == tkString:
		p.next()
		return &Literal{Value: t.text, Pos: t.pos}, nil, nil
	case t.kind == tkNumber:
		return nil, nil, &syntaxError{pos: t.pos, msg: fmt.Sprintf("unexpected number %s", t.text),
			hint: fmt.Sprintf("values are strings in double quotes: %q", t.text)}
	case t.kind == tkWord && !isKeyword(t):
	case t.kind == tkWord:
		return nil, nil, p.unexpected(t, "expected an attribute such as user.name or a string in double quotes")
	default:
		return nil, nil, p.unexpected(t, "expected an attribute such as user.name or a string in double quotes")
	}
	if strings.EqualFold(t.text, "true") || strings.EqualFold(t.text, "false") {
		if p.peekAt(1).kind != tkDot && p.peekAt(1).kind != tkLParen {
			return nil, nil, &syntaxError{pos: t.pos, msg: fmt.Sprintf("unexpected %s", t.text),
				hint: fmt.Sprintf("values are strings in double quotes: %q", strings.ToLower(t.text))}
		}
	}
	path := &Path{}
	for {
		w := p.next()
		path.Segments = append(path.Segments, Segment{Name: w.text, Pos: w.pos})
		if p.peek().kind == tkLParen {
			c, err := p.call(path)
			return nil, c, err
		}
		if p.peek().kind != tkDot {
			return path, nil, nil
		}
		p.next()
		if k := p.peek().kind; k != tkWord && k != tkNumber {
			return nil, nil, p.unexpected(p.peek(), "expected an attribute name after the dot")
		}
	}
}

// call parses the argument list; the last segment of path is the name.
func (p *parser) call(path *Path) (*Call, *syntaxError) {
	name := path.Segments[len(path.Segments)-1]
	c := &Call{Name: name.Name, NamePos: name.Pos}
	if len(path.Segments) > 1 {
		c.Receiver = &Path{Segments: path.Segments[:len(path.Segments)-1]}
	}
	open := p.next() // (
	if p.peek().kind == tkRParen {
		p.next()
		return c, nil
	}
	for {
		a, call, err := p.operand()
		if err != nil {
			return nil, err
		}
		if call != nil {
			return nil, &syntaxError{pos: call.Position(), msg: "function calls cannot be arguments"}
		}
		c.Args = append(c.Args, a)
		switch t := p.peek(); t.kind {
		case tkComma:
			p.next()
		case tkRParen:
			p.next()
			return c, nil
		case tkEOF:
			return nil, &syntaxError{pos: open.pos, msg: "unclosed parenthesis in function call", hint: "add the matching )"}
		default:
			return nil, p.unexpected(t, "expected , or ) in the argument list")
		}
	}
}
