//! A subset of BBQL, Bitbucket's query language (`q=`), and the `sort=` parameter.
//!
//! Supported: comparisons `field OP value` joined by `AND` (case-insensitive), where
//!
//! - `field` is `updated_on` or `created_on` (datetimes), or `is_private` (repositories only);
//! - `OP` is `=`, `!=`, `>`, `>=`, `<` or `<=` (for `is_private`: `=` and `!=`);
//! - a datetime is **unquoted** ISO 8601: `2026-01-01T00:00:00+00:00`, `…Z`, with or without
//!   a fraction or seconds, without an offset (UTC), or a bare date `2026-01-01` (midnight UTC);
//! - a boolean is `true` or `false`.
//!
//! Anything else (OR, parentheses, quoted strings, other fields) is rejected with an error that
//! the API turns into `400 Invalid query: …`. Phase 2 can widen the grammar here.

use chrono::{NaiveDate, NaiveTime};

use crate::clock::Micros;

/// A field that can be filtered or sorted on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Field {
    /// `updated_on`.
    UpdatedOn,
    /// `created_on`.
    CreatedOn,
    /// `is_private` (repositories).
    IsPrivate,
}

impl Field {
    fn parse(name: &str) -> Option<Field> {
        match name {
            "updated_on" => Some(Field::UpdatedOn),
            "created_on" => Some(Field::CreatedOn),
            "is_private" => Some(Field::IsPrivate),
            _ => None,
        }
    }

    fn name(self) -> &'static str {
        match self {
            Field::UpdatedOn => "updated_on",
            Field::CreatedOn => "created_on",
            Field::IsPrivate => "is_private",
        }
    }
}

/// A comparison operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    /// `=`
    Eq,
    /// `!=`
    Ne,
    /// `>`
    Gt,
    /// `>=`
    Ge,
    /// `<`
    Lt,
    /// `<=`
    Le,
}

impl Op {
    fn holds(self, ord: std::cmp::Ordering) -> bool {
        use std::cmp::Ordering::*;
        match self {
            Op::Eq => ord == Equal,
            Op::Ne => ord != Equal,
            Op::Gt => ord == Greater,
            Op::Ge => ord != Less,
            Op::Lt => ord == Less,
            Op::Le => ord != Greater,
        }
    }
}

/// A comparison's right-hand side.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Value {
    /// A datetime, in nanoseconds since the epoch (UTC).
    Time(i128),
    /// A boolean.
    Bool(bool),
}

/// One `field OP value` comparison.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cond {
    /// The field.
    pub field: Field,
    /// The operator.
    pub op: Op,
    /// The value.
    pub value: Value,
}

/// What a filter looks at in a record.
#[derive(Debug, Clone, Copy)]
pub struct Subject {
    /// `updated_on`.
    pub updated_on: Micros,
    /// `created_on`.
    pub created_on: Micros,
    /// `is_private`, for repositories.
    pub is_private: Option<bool>,
}

/// A parsed `q` parameter: the conjunction of its comparisons (empty = everything).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Filter {
    /// The comparisons, all of which must hold.
    pub conds: Vec<Cond>,
}

impl Filter {
    /// Parses `q` (already URL-decoded), accepting only the `allowed` fields.
    pub fn parse(q: &str, allowed: &[Field]) -> Result<Filter, String> {
        let mut lexer = Lexer { s: q, pos: 0 };
        let mut conds = Vec::new();
        loop {
            let name = lexer
                .ident()
                .ok_or_else(|| format!("expected a field name at position {}", lexer.pos))?;
            let field = Field::parse(name)
                .filter(|f| allowed.contains(f))
                .ok_or_else(|| format!("unsupported field '{name}'"))?;
            let op = lexer
                .op()
                .ok_or_else(|| format!("expected a comparison operator after '{name}'"))?;
            let raw = lexer
                .value()
                .ok_or_else(|| format!("expected a value after '{name}'"))?;
            let value = match field {
                Field::UpdatedOn | Field::CreatedOn => {
                    Value::Time(parse_datetime(raw).ok_or_else(|| {
                        format!("invalid datetime '{raw}' (use an unquoted ISO 8601 value)")
                    })?)
                }
                Field::IsPrivate => {
                    if !matches!(op, Op::Eq | Op::Ne) {
                        return Err(format!("operator not supported for '{}'", field.name()));
                    }
                    match raw {
                        "true" => Value::Bool(true),
                        "false" => Value::Bool(false),
                        _ => return Err(format!("invalid boolean '{raw}'")),
                    }
                }
            };
            conds.push(Cond { field, op, value });
            lexer.skip_ws();
            if lexer.at_end() {
                break;
            }
            match lexer.ident() {
                Some(kw) if kw.eq_ignore_ascii_case("and") => continue,
                _ => {
                    let hint = if lexer.rest().starts_with(|c: char| c.is_ascii_digit()) {
                        " (a '+' in a query string decodes to a space: encode it as %2B)"
                    } else {
                        ""
                    };
                    return Err(format!(
                        "unexpected input at position {}: only AND-joined comparisons are supported{hint}",
                        lexer.pos
                    ));
                }
            }
        }
        Ok(Filter { conds })
    }

    /// Whether a record satisfies every comparison.
    pub fn matches(&self, s: &Subject) -> bool {
        self.conds.iter().all(|c| match (c.field, c.value) {
            (Field::UpdatedOn, Value::Time(v)) => c.op.holds((s.updated_on as i128 * 1000).cmp(&v)),
            (Field::CreatedOn, Value::Time(v)) => c.op.holds((s.created_on as i128 * 1000).cmp(&v)),
            (Field::IsPrivate, Value::Bool(v)) => match s.is_private {
                Some(p) => c.op.holds(p.cmp(&v)),
                None => false,
            },
            _ => false,
        })
    }
}

struct Lexer<'a> {
    s: &'a str,
    pos: usize,
}

impl<'a> Lexer<'a> {
    fn rest(&self) -> &'a str {
        self.s.get(self.pos..).unwrap_or("")
    }

    fn skip_ws(&mut self) {
        let rest = self.rest();
        self.pos += rest.len() - rest.trim_start().len();
    }

    fn at_end(&self) -> bool {
        self.rest().is_empty()
    }

    fn take_while(&mut self, f: impl Fn(char) -> bool) -> &'a str {
        let rest = self.rest();
        let len = rest.find(|c: char| !f(c)).unwrap_or(rest.len());
        self.pos += len;
        &rest[..len]
    }

    fn ident(&mut self) -> Option<&'a str> {
        self.skip_ws();
        let first = self.rest().chars().next()?;
        if !(first.is_ascii_alphabetic() || first == '_') {
            return None;
        }
        Some(self.take_while(|c| c.is_ascii_alphanumeric() || c == '_' || c == '.'))
    }

    fn op(&mut self) -> Option<Op> {
        self.skip_ws();
        let rest = self.rest();
        let (op, len) = if rest.starts_with(">=") {
            (Op::Ge, 2)
        } else if rest.starts_with("<=") {
            (Op::Le, 2)
        } else if rest.starts_with("!=") {
            (Op::Ne, 2)
        } else if rest.starts_with('>') {
            (Op::Gt, 1)
        } else if rest.starts_with('<') {
            (Op::Lt, 1)
        } else if rest.starts_with('=') {
            (Op::Eq, 1)
        } else {
            return None;
        };
        self.pos += len;
        Some(op)
    }

    fn value(&mut self) -> Option<&'a str> {
        self.skip_ws();
        let v = self.take_while(|c| !c.is_whitespace() && c != '(' && c != ')');
        (!v.is_empty()).then_some(v)
    }
}

/// Parses an unquoted BBQL datetime into nanoseconds since the epoch (UTC).
///
/// Accepts `YYYY-MM-DD`, `YYYY-MM-DDTHH:MM[:SS[.fraction]]` followed by nothing (UTC), `Z`,
/// or an offset `±HH:MM`, `±HHMM` or `±HH`.
pub fn parse_datetime(s: &str) -> Option<i128> {
    let (date, time) = match s.find(['T', 't']) {
        Some(i) => (&s[..i], Some(&s[i + 1..])),
        None => (s, None),
    };
    let date = NaiveDate::parse_from_str(date, "%Y-%m-%d").ok()?;
    let (time, offset_secs) = match time {
        None => (NaiveTime::MIN, 0i64),
        Some(t) => {
            let (clock, offset) = if let Some(c) = t.strip_suffix(['Z', 'z']) {
                (c, 0)
            } else if let Some(i) = t.find(['+', '-']) {
                (&t[..i], parse_offset(&t[i..])?)
            } else {
                (t, 0)
            };
            let time = NaiveTime::parse_from_str(clock, "%H:%M:%S%.f")
                .or_else(|_| NaiveTime::parse_from_str(clock, "%H:%M"))
                .ok()?;
            (time, offset)
        }
    };
    let dt = date.and_time(time).and_utc();
    let secs = i128::from(dt.timestamp()) - i128::from(offset_secs);
    Some(secs * 1_000_000_000 + i128::from(dt.timestamp_subsec_nanos()))
}

fn parse_offset(s: &str) -> Option<i64> {
    let sign = match s.as_bytes().first()? {
        b'+' => 1,
        b'-' => -1,
        _ => return None,
    };
    let digits: String = s[1..].chars().filter(|&c| c != ':').collect();
    if !digits.chars().all(|c| c.is_ascii_digit()) {
        return None;
    }
    let (h, m) = match digits.len() {
        2 => (digits.parse::<i64>().ok()?, 0),
        4 => (digits[..2].parse::<i64>().ok()?, digits[2..].parse::<i64>().ok()?),
        _ => return None,
    };
    if h > 23 || m > 59 || (s[1..].contains(':') && s.len() != 6) {
        return None;
    }
    Some(sign * (h * 3600 + m * 60))
}

/// A parsed `sort` parameter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sort {
    /// The key.
    pub key: SortKey,
    /// `-field`: descending.
    pub descending: bool,
}

/// What a collection can be sorted by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SortKey {
    /// `updated_on` (ties by id / uuid).
    UpdatedOn,
    /// `created_on` (ties by id / uuid).
    CreatedOn,
    /// `id` (pull requests).
    Id,
    /// `full_name` (repositories).
    FullName,
    /// `name` (repositories).
    Name,
    /// `slug` (repositories, workspaces).
    Slug,
}

impl Sort {
    /// Parses `sort` (`field` or `-field`), accepting only the `allowed` keys.
    pub fn parse(s: &str, allowed: &[SortKey]) -> Result<Sort, String> {
        let (descending, name) = match s.strip_prefix('-') {
            Some(rest) => (true, rest),
            None => (false, s),
        };
        let key = match name.trim() {
            "updated_on" => SortKey::UpdatedOn,
            "created_on" => SortKey::CreatedOn,
            "id" => SortKey::Id,
            "full_name" => SortKey::FullName,
            "name" => SortKey::Name,
            "slug" => SortKey::Slug,
            _ => return Err(format!("Invalid sort field '{name}'")),
        };
        if !allowed.contains(&key) {
            return Err(format!("Invalid sort field '{name}'"));
        }
        Ok(Sort { key, descending })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DT: &[Field] = &[Field::UpdatedOn, Field::CreatedOn];

    fn ns(s: &str) -> i128 {
        parse_datetime(s).unwrap()
    }

    #[test]
    fn datetimes() {
        let base = ns("2026-01-01T00:00:00+00:00");
        assert_eq!(base, 1_767_225_600i128 * 1_000_000_000);
        assert_eq!(ns("2026-01-01T00:00:00Z"), base);
        assert_eq!(ns("2026-01-01"), base);
        assert_eq!(ns("2026-01-01T00:00"), base);
        assert_eq!(ns("2026-01-01T00:00:00.000000+00:00"), base);
        assert_eq!(ns("2026-01-01T01:00:00+01:00"), base);
        assert_eq!(ns("2025-12-31T17:00:00-0700"), base);
        assert_eq!(ns("2026-01-01T00:00:00.5Z"), base + 500_000_000);
        for bad in [
            "2026-13-01",
            "yesterday",
            "2026-01-01T25:00:00Z",
            "2026-01-01T00:00:00+1:00",
            "\"2026-01-01\"",
            "",
        ] {
            assert!(parse_datetime(bad).is_none(), "{bad}");
        }
    }

    #[test]
    fn filters() {
        let f = Filter::parse("updated_on>=2026-01-01T00:00:00+00:00", DT).unwrap();
        assert_eq!(f.conds.len(), 1);
        let f2 = Filter::parse(
            "  updated_on >= 2026-01-01T00:00:00Z and created_on<2026-02-01 AND updated_on != 2026-01-05 ",
            DT,
        )
        .unwrap();
        assert_eq!(f2.conds.len(), 3);
        let at = |s: &str| (ns(s) / 1000) as Micros;
        let subject = |u: &str, c: &str| Subject {
            updated_on: at(u),
            created_on: at(c),
            is_private: None,
        };
        assert!(f.matches(&subject("2026-01-01T00:00:00Z", "2025-01-01")));
        assert!(!f.matches(&subject("2025-12-31T23:59:59.999999Z", "2025-01-01")));
        assert!(f2.matches(&subject("2026-01-02", "2026-01-31T23:59:59Z")));
        assert!(!f2.matches(&subject("2026-01-05", "2026-01-01")));
        assert!(!f2.matches(&subject("2026-01-02", "2026-02-01")));

        let repo = &[Field::UpdatedOn, Field::IsPrivate];
        let p = Filter::parse("is_private = false", repo).unwrap();
        let s = Subject {
            updated_on: 0,
            created_on: 0,
            is_private: Some(false),
        };
        assert!(p.matches(&s));
        assert!(Filter::parse("is_private = false", DT).is_err());
        assert!(Filter::parse("is_private > false", repo).is_err());
    }

    #[test]
    fn invalid_queries() {
        for bad in [
            "",
            "updated_on",
            "updated_on >=",
            "updated_on ~ 2026-01-01",
            // a raw '+' in a query string decodes to a space
            "updated_on>=2026-01-01T00:00:00 00:00",
            "updated_on >= \"2026-01-01\"",
            "updated_on >= 2026-01-01 OR created_on >= 2026-01-01",
            "(updated_on >= 2026-01-01)",
            "state = \"OPEN\"",
            "updated_on >= 2026-01-01 AND",
            "\u{fffd}",
        ] {
            assert!(Filter::parse(bad, DT).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn sorts() {
        let keys = &[SortKey::UpdatedOn, SortKey::CreatedOn];
        assert_eq!(
            Sort::parse("-updated_on", keys),
            Ok(Sort {
                key: SortKey::UpdatedOn,
                descending: true
            })
        );
        assert!(Sort::parse("created_on", keys).is_ok());
        assert!(Sort::parse("title", keys).is_err());
        assert!(Sort::parse("id", keys).is_err());
        assert!(Sort::parse("", keys).is_err());
    }
}
