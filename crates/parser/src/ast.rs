//! The syntax tree. Every node carries the byte span it was parsed from; strings borrow from
//! the source unless they contained escapes.

use std::borrow::Cow;

use tusk_diagnostics::Span;

/// A parsed file: its top-level statements in order.
#[derive(Clone, Debug, PartialEq)]
pub struct Document<'src> {
    /// Statements in source order (section headers included).
    pub items: Vec<Item<'src>>,
}

/// A document whose entries made only of literals were built into values while it was parsed
/// ([`crate::parse_building`]): those entries have no syntax tree at all.
#[derive(Debug, PartialEq)]
pub struct BuiltDocument<'src, V> {
    /// Top-level statements in source order.
    pub statements: Vec<Statement<'src, V>>,
}

/// A top-level statement of a [`BuiltDocument`].
#[derive(Debug, PartialEq)]
pub enum Statement<'src, V> {
    /// A statement as the syntax tree has it.
    Item(Item<'src>),
    /// An entry (`key: value`, `key { … }`) whose value is made only of literals: scalars,
    /// `-`/`!` of them, and arrays and one-part-key objects of them.
    Built {
        /// The key path.
        key: KeyPath<'src>,
        /// The value the builder made.
        value: V,
        /// Where the value is (the span its expression would have).
        value_span: Span,
        /// The whole statement.
        span: Span,
    },
}

impl<'src, V> From<Document<'src>> for BuiltDocument<'src, V> {
    fn from(document: Document<'src>) -> BuiltDocument<'src, V> {
        BuiltDocument { statements: document.items.into_iter().map(Statement::Item).collect() }
    }
}

/// A statement of a document, block or object body.
#[derive(Clone, Debug, PartialEq)]
pub struct Item<'src> {
    /// What it is.
    pub kind: ItemKind<'src>,
    /// The whole statement.
    pub span: Span,
}

/// The kinds of statements.
#[derive(Clone, Debug, PartialEq)]
pub enum ItemKind<'src> {
    /// `key: value`, `key = value`, `a.b.c: value`, and blocks (`key { … }`, `key > … <`,
    /// indented `key:`), whose value is an [`ExprKind::Object`] or [`ExprKind::Array`].
    Entry {
        /// The key path: one part, or several for `a.b.c: value`.
        key: KeyPath<'src>,
        /// The value.
        value: Expr<'src>,
    },
    /// `$name: value`: a global variable, not part of the document.
    Global {
        /// The name without `$`.
        name: &'src str,
        /// Where the name is.
        name_span: Span,
        /// The value.
        value: Expr<'src>,
    },
    /// `[a.b]`: the following entries go into this section.
    Section {
        /// The section path.
        path: Vec<Key<'src>>,
    },
    /// `- value` in an indented list (only inside [`ExprKind::Array`] bodies built from them).
    ListItem(Expr<'src>),
    /// A statement that did not parse; the error was reported.
    Error,
}

/// One part of a key.
#[derive(Clone, Debug, PartialEq)]
pub struct Key<'src> {
    /// The key text (unquoted).
    pub name: Cow<'src, str>,
    /// Where it is.
    pub span: Span,
}

/// The key of an entry: one part (`a`) or several (`a.b.c`); it reads as a slice of parts.
///
/// Nearly every key of a config file has one part, which is kept inline: a `Vec` would be an
/// allocation per entry, a tenth of the time of parsing a config file and as much again to
/// free it.
#[derive(Clone)]
pub struct KeyPath<'src>(KeyParts<'src>);

#[derive(Clone)]
enum KeyParts<'src> {
    One([Key<'src>; 1]),
    Many(Vec<Key<'src>>),
}

impl<'src> KeyPath<'src> {
    /// A key of one part.
    pub fn one(key: Key<'src>) -> KeyPath<'src> {
        KeyPath(KeyParts::One([key]))
    }
}

impl<'src> From<Vec<Key<'src>>> for KeyPath<'src> {
    fn from(mut parts: Vec<Key<'src>>) -> KeyPath<'src> {
        match parts.pop() {
            Some(only) if parts.is_empty() => KeyPath::one(only),
            Some(last) => {
                parts.push(last);
                KeyPath(KeyParts::Many(parts))
            }
            None => KeyPath(KeyParts::Many(parts)),
        }
    }
}

impl<'src> std::ops::Deref for KeyPath<'src> {
    type Target = [Key<'src>];

    fn deref(&self) -> &[Key<'src>] {
        match &self.0 {
            KeyParts::One(only) => only,
            KeyParts::Many(parts) => parts,
        }
    }
}

impl PartialEq for KeyPath<'_> {
    fn eq(&self, other: &KeyPath<'_>) -> bool {
        **self == **other
    }
}

impl std::fmt::Debug for KeyPath<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.iter()).finish()
    }
}

/// An expression with its span.
#[derive(Clone, Debug, PartialEq)]
pub struct Expr<'src> {
    /// What it is.
    pub kind: ExprKind<'src>,
    /// Where it is.
    pub span: Span,
}

/// Unary operators.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UnaryOp {
    /// `-x`
    Neg,
    /// `!x`
    Not,
}

/// Binary operators.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BinaryOp {
    /// `+`
    Add,
    /// `-`
    Sub,
    /// `*`
    Mul,
    /// `/`
    Div,
    /// `%`
    Rem,
    /// `==`
    Eq,
    /// `!=`
    NotEq,
    /// `<`
    Lt,
    /// `<=`
    LtEq,
    /// `>`
    Gt,
    /// `>=`
    GtEq,
    /// `&&`
    And,
    /// `||`
    Or,
}

impl BinaryOp {
    /// The operator as written.
    pub fn symbol(self) -> &'static str {
        match self {
            BinaryOp::Add => "+",
            BinaryOp::Sub => "-",
            BinaryOp::Mul => "*",
            BinaryOp::Div => "/",
            BinaryOp::Rem => "%",
            BinaryOp::Eq => "==",
            BinaryOp::NotEq => "!=",
            BinaryOp::Lt => "<",
            BinaryOp::LtEq => "<=",
            BinaryOp::Gt => ">",
            BinaryOp::GtEq => ">=",
            BinaryOp::And => "&&",
            BinaryOp::Or => "||",
        }
    }
}

/// A part of an interpolated string.
#[derive(Clone, Debug, PartialEq)]
pub enum StrPart<'src> {
    /// Literal text, escapes already processed.
    Text(Cow<'src, str>),
    /// `${expr}`.
    Expr(Expr<'src>),
}

/// A lambda parameter.
#[derive(Clone, Debug, PartialEq)]
pub struct Param<'src> {
    /// Its name.
    pub name: &'src str,
    /// Where it is.
    pub span: Span,
}

/// The kinds of expressions.
#[derive(Clone, Debug, PartialEq)]
pub enum ExprKind<'src> {
    /// `null`
    Null,
    /// `true`, `false`
    Bool(bool),
    /// `42`
    Int(i64),
    /// `1.5`
    Float(f64),
    /// `"text"`, `'text'`, `"""raw"""`, heredocs.
    Str(Cow<'src, str>),
    /// `"a ${b} c"`
    Interpolated(Vec<StrPart<'src>>),
    /// `8000-9000`: both ends included.
    Range(i64, i64),
    /// A name: an entry, a parameter or a function.
    Name(&'src str),
    /// `$name`
    Global(&'src str),
    /// `@name(args)`, or `@name.path` without parentheses (then `args` is `None`).
    Operator {
        /// The dotted name without `@`.
        name: &'src str,
        /// Where the name is (with `@`).
        name_span: Span,
        /// The arguments, if there were parentheses.
        args: Option<Vec<Expr<'src>>>,
    },
    /// `[a, b]`
    Array(Vec<Expr<'src>>),
    /// `{ a: 1 }`, a block body or an indented block: its statements.
    Object(Vec<Item<'src>>),
    /// `-x`, `!x`
    Unary(UnaryOp, Box<Expr<'src>>),
    /// `a + b` and the other binary operators.
    Binary(BinaryOp, Box<Expr<'src>>, Box<Expr<'src>>),
    /// `c ? a : b`
    Ternary(Box<Expr<'src>>, Box<Expr<'src>>, Box<Expr<'src>>),
    /// `f(a, b)`
    Call(Box<Expr<'src>>, Vec<Expr<'src>>),
    /// `a.name`
    Member(Box<Expr<'src>>, &'src str, Span),
    /// `a[i]`
    Index(Box<Expr<'src>>, Box<Expr<'src>>),
    /// `(a, b) => body`, `x => body`
    Lambda(Vec<Param<'src>>, Box<Expr<'src>>),
    /// A value that did not parse; the error was reported. In compat mode it is the raw text
    /// of its span.
    Invalid,
}
