package rules

import (
	"strings"
)

// Pos is a position in a field's text: Offset in bytes from the start,
// Line and Column 1-based (Column counts characters, a tab is one).
type Pos struct {
	Offset int `json:"offset"`
	Line   int `json:"line"`
	Column int `json:"column"`
}

// Expr is a node of a parsed condition: *Logical, *Not, *Compare or *Call.
type Expr interface {
	// Position is where the expression starts.
	Position() Pos
	exprNode()
}

// Operand is a value in a comparison or a function argument: *Path or *Literal.
type Operand interface {
	Position() Pos
	operandNode()
}

// LogicalOp is "and" or "or".
type LogicalOp int

// The logical operators.
const (
	And LogicalOp = iota
	Or
)

func (o LogicalOp) String() string {
	if o == And {
		return "and"
	}
	return "or"
}

// CompareOp is a comparison operator.
type CompareOp int

// The comparison operators.
const (
	OpEq      CompareOp = iota // =   case-insensitive equality
	OpNe                       // !=  case-insensitive inequality
	OpEqCase                   // ==  case-sensitive equality
	OpNeCase                   // !== case-sensitive inequality
	OpLike                     // like  wildcard match (* and ?), case-insensitive
	OpMatches                  // matches  anchored regular expression
)

var compareOpText = [...]string{"=", "!=", "==", "!==", "like", "matches"}

func (o CompareOp) String() string { return compareOpText[o] }

// Logical is a chain of two or more operands joined by one operator.
// Nested chains of the same operator are flattened by the parser.
type Logical struct {
	Op       LogicalOp
	Operands []Expr
}

// Not negates X.
type Not struct {
	X   Expr
	Pos Pos
}

// Compare compares two operands.
type Compare struct {
	Op          CompareOp
	Left, Right Operand
	OpPos       Pos
}

// Call is a function call such as resource.HasPrivilege("read"); Receiver
// is the path before the function name (possibly empty).
type Call struct {
	Receiver *Path
	Name     string
	NamePos  Pos
	Args     []Operand
}

// Segment is one dot-separated part of a path, as written.
type Segment struct {
	Name string
	Pos  Pos
}

// Path is an attribute path such as user.group or resource.@tag.
type Path struct {
	Segments []Segment
}

// Literal is a double-quoted string; Value is the unescaped text.
type Literal struct {
	Value string
	Pos   Pos
}

func (l *Logical) Position() Pos { return l.Operands[0].Position() }
func (n *Not) Position() Pos     { return n.Pos }
func (c *Compare) Position() Pos { return c.Left.Position() }
func (c *Call) Position() Pos {
	if c.Receiver != nil && len(c.Receiver.Segments) > 0 {
		return c.Receiver.Position()
	}
	return c.NamePos
}
func (p *Path) Position() Pos    { return p.Segments[0].Pos }
func (l *Literal) Position() Pos { return l.Pos }

func (*Logical) exprNode() {}
func (*Not) exprNode()     {}
func (*Compare) exprNode() {}
func (*Call) exprNode()    {}

func (*Path) operandNode()    {}
func (*Literal) operandNode() {}

// String is the path as written, segments joined by dots.
func (p *Path) String() string {
	var b strings.Builder
	for i, s := range p.Segments {
		if i > 0 {
			b.WriteByte('.')
		}
		b.WriteString(s.Name)
	}
	return b.String()
}

// Format prints a condition in canonical form: single spaces, lower-case
// keywords, parentheses only where precedence needs them. Parsing the
// result gives back an equal tree. A nil expression prints as "".
func Format(e Expr) string {
	var b strings.Builder
	format(&b, e)
	return b.String()
}

func format(b *strings.Builder, e Expr) {
	switch e := e.(type) {
	case nil:
	case *Logical:
		for i, x := range e.Operands {
			if i > 0 {
				b.WriteByte(' ')
				b.WriteString(e.Op.String())
				b.WriteByte(' ')
			}
			// An or inside an and needs parentheses. A chain nested in a
			// chain of the same operator never comes from the parser (it
			// flattens them) but is kept apart if a caller built one.
			l, ok := x.(*Logical)
			writeMaybeParen(b, x, ok && (l.Op == Or || l.Op == e.Op))
		}
	case *Not:
		b.WriteByte('!')
		_, isLogical := e.X.(*Logical)
		writeMaybeParen(b, e.X, isLogical)
	case *Compare:
		formatOperand(b, e.Left)
		b.WriteByte(' ')
		b.WriteString(e.Op.String())
		b.WriteByte(' ')
		formatOperand(b, e.Right)
	case *Call:
		if e.Receiver != nil && len(e.Receiver.Segments) > 0 {
			b.WriteString(e.Receiver.String())
			b.WriteByte('.')
		}
		b.WriteString(e.Name)
		b.WriteByte('(')
		for i, a := range e.Args {
			if i > 0 {
				b.WriteString(", ")
			}
			formatOperand(b, a)
		}
		b.WriteByte(')')
	}
}

func writeMaybeParen(b *strings.Builder, e Expr, paren bool) {
	if paren {
		b.WriteByte('(')
	}
	format(b, e)
	if paren {
		b.WriteByte(')')
	}
}

func formatOperand(b *strings.Builder, o Operand) {
	switch o := o.(type) {
	case *Path:
		b.WriteString(o.String())
	case *Literal:
		b.WriteString(Quote(o.Value))
	}
}

// Quote returns s as a condition-language string literal.
func Quote(s string) string {
	var b strings.Builder
	b.WriteByte('"')
	for _, r := range s {
		switch r {
		case '"':
			b.WriteString(`\"`)
		case '\\':
			b.WriteString(`\\`)
		case '\n':
			b.WriteString(`\n`)
		case '\r':
			b.WriteString(`\r`)
		case '\t':
			b.WriteString(`\t`)
		default:
			b.WriteRune(r)
		}
	}
	b.WriteByte('"')
	return b.String()
}
