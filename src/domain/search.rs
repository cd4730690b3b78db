//! The order search syntax, as Shopify's admin search has it:
//! `status:AWAITING_SHIPMENT stage:exception tag:vip sku:TSHIRT-BLK-M created_at:>=2026-11-01
//! total:>100 id:5766… recipient:lovelace tracking:1Z999AA10123456784 request:open`. Times are a day, an RFC 3339 time, or a moment from now (`now`,
//! `now-7d`, `now+24h`, `now-30m`): `ship_by:<now` is the orders whose ready-to-ship deadline
//! has passed. Terms are ANDed; `OR` between two terms or groups makes either do;
//! `-` before a term or group negates it; parentheses group. A value with spaces is quoted
//! (`tag:"gift wrap"`). Pure: the store turns a [`Search`] into SQL.
//!
//! A bad query is an [`Error`] that names the term it could not read and why.

use std::fmt;

use chrono::{DateTime, NaiveDate, TimeDelta, Utc};
use rust_decimal::Decimal;

use super::{AfterSaleKind, OrderId, OrderStatus, ShopId, Sku, Stage};

/// The longest query accepted, in bytes.
pub const MAX_LEN: usize = 2_000;
/// The deepest nesting of groups and negations accepted.
pub const MAX_DEPTH: usize = 8;
/// The most terms in one query.
pub const MAX_TERMS: usize = 50;

/// A parsed search.
#[derive(Debug, Clone, PartialEq)]
pub enum Search {
    Term(Term),
    Not(Box<Search>),
    /// All of these (the empty list matches every order).
    All(Vec<Search>),
    /// Any of these.
    Any(Vec<Search>),
}

/// One condition on an order.
#[derive(Debug, Clone, PartialEq)]
pub enum Term {
    Status(OrderStatus),
    Stage(Stage),
    /// A tag a workflow (or an operator) set.
    Tag(String),
    /// An order with a line of this SKU.
    Sku(Sku),
    /// The order id, or ids starting with a prefix (`id:5766…` or `id:5766*`).
    Id {
        id: String,
        prefix: bool,
    },
    Shop(ShopId),
    CreatedAt(Compare, Moment),
    UpdatedAt(Compare, Moment),
    /// TikTok's ready-to-ship deadline (`rts_sla_time`); an order without one matches nothing.
    ShipBy(Compare, Moment),
    /// The order's total in its currency's major unit (`total:>100` is more than 100.00).
    Total(Compare, Decimal),
    /// Words of the recipient's name, in any case (`recipient:lovelace`, `recipient:"ada l"`):
    /// whom a buyer's "where is my parcel?" is about.
    Recipient(String),
    /// The tracking number of the order's shipment, exactly (`tracking:1Z999AA10123456784`).
    Tracking(String),
    /// A cancellation or return request on the order (`request:open`, `request:cancellation`,
    /// `request:return`, `request:any`).
    Request(Request),
}

/// Which buyer requests `request:` finds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Request {
    /// A request TikTok waits for the seller to answer ([`super::AWAITING_SELLER`]).
    Open,
    /// Any request of this kind, answered or not.
    Kind(AfterSaleKind),
    /// Any request at all.
    Any,
}

/// The shortest and longest part of a name `recipient:` takes, in characters.
pub const RECIPIENT_CHARS: std::ops::RangeInclusive<usize> = 2..=100;

/// A time a term compares with: fixed, or as far from the moment the search runs (a saved
/// view of `ship_by:<now` is the late orders whenever it is opened).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Moment {
    At(DateTime<Utc>),
    FromNow(TimeDelta),
}

impl Moment {
    /// The time this is when the search runs at `now`.
    pub fn at(&self, now: DateTime<Utc>) -> DateTime<Utc> {
        match self {
            Moment::At(at) => *at,
            Moment::FromNow(delta) => now + *delta,
        }
    }
}

impl From<DateTime<Utc>> for Moment {
    fn from(at: DateTime<Utc>) -> Self {
        Moment::At(at)
    }
}

/// How a value compares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compare {
    Eq,
    Gt,
    Ge,
    Lt,
    Le,
}

/// What is wrong with a query: the term, and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("query term `{term}`: {reason}")]
pub struct Error {
    pub term: String,
    pub reason: String,
}

fn error(term: &str, reason: impl Into<String>) -> Error {
    Error {
        term: term.to_owned(),
        reason: reason.into(),
    }
}

impl Search {
    /// Parses `raw`; blank matches every order.
    pub fn parse(raw: &str) -> Result<Self, Error> {
        if raw.len() > MAX_LEN {
            return Err(error(
                &raw[..raw.floor_char_boundary(40)],
                format!("the query is longer than {MAX_LEN} bytes"),
            ));
        }
        let tokens = tokenize(raw)?;
        let terms = tokens
            .iter()
            .filter(|t| matches!(t, Token::Word(_)))
            .count();
        if terms > MAX_TERMS {
            return Err(error(raw.trim(), format!("more than {MAX_TERMS} terms")));
        }
        let mut parser = Parser { tokens, at: 0 };
        let search = parser.any(0)?;
        match parser.tokens.get(parser.at) {
            None => Ok(search),
            Some(Token::Close) => Err(error(")", "a closing parenthesis without its opening one")),
            Some(other) => Err(error(&other.to_string(), "unexpected here")),
        }
    }

    /// Whether an order matches, decided from what is `known` of it; `None` when the search
    /// asks something else (tags, SKUs, times, totals), which only the store can answer.
    pub fn decide(&self, known: &Known<'_>) -> Option<bool> {
        match self {
            Search::Term(term) => term.decide(known),
            Search::Not(inner) => inner.decide(known).map(|m| !m),
            Search::All(all) => {
                let mut decided = Some(true);
                for s in all {
                    match s.decide(known) {
                        Some(false) => return Some(false),
                        Some(true) => {}
                        None => decided = None,
                    }
                }
                decided
            }
            Search::Any(any) => {
                let mut decided = Some(false);
                for s in any {
                    match s.decide(known) {
                        Some(true) => return Some(true),
                        Some(false) => {}
                        None => decided = None,
                    }
                }
                decided
            }
        }
    }

    /// Every term, in order (for checks such as "which shops does this name").
    pub fn terms(&self) -> Vec<&Term> {
        match self {
            Search::Term(t) => vec![t],
            Search::Not(inner) => inner.terms(),
            Search::All(all) | Search::Any(all) => all.iter().flat_map(Search::terms).collect(),
        }
    }
}

/// What a change to an order says of it without a read: enough to decide some searches.
pub struct Known<'a> {
    pub id: &'a OrderId,
    pub shop: &'a ShopId,
    pub status: &'a OrderStatus,
    pub stage: Stage,
}

impl Term {
    fn decide(&self, known: &Known<'_>) -> Option<bool> {
        Some(match self {
            Term::Status(status) => status == known.status,
            Term::Stage(stage) => *stage == known.stage,
            Term::Shop(shop) => shop == known.shop,
            Term::Id { id, prefix: false } => id == known.id.as_str(),
            Term::Id { id, prefix: true } => known.id.as_str().starts_with(id.as_str()),
            Term::Tag(_)
            | Term::Sku(_)
            | Term::CreatedAt(..)
            | Term::UpdatedAt(..)
            | Term::ShipBy(..)
            | Term::Total(..)
            | Term::Recipient(_)
            | Term::Tracking(_)
            | Term::Request(_) => return None,
        })
    }
}

#[derive(Debug, Clone, PartialEq)]
enum Token {
    Word(String),
    Or,
    Not,
    Open,
    Close,
}

impl fmt::Display for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Token::Word(w) => f.write_str(w),
            Token::Or => f.write_str("OR"),
            Token::Not => f.write_str("-"),
            Token::Open => f.write_str("("),
            Token::Close => f.write_str(")"),
        }
    }
}

/// Words (with `"…"` keeping spaces inside), `OR`, `-` before a word or group, parentheses.
fn tokenize(raw: &str) -> Result<Vec<Token>, Error> {
    let mut tokens = Vec::new();
    let mut chars = raw.char_indices().peekable();
    while let Some(&(start, c)) = chars.peek() {
        match c {
            c if c.is_whitespace() => {
                chars.next();
            }
            '(' => {
                chars.next();
                tokens.push(Token::Open);
            }
            ')' => {
                chars.next();
                tokens.push(Token::Close);
            }
            // A `-` starting a token negates what follows it (after a group too); a `-` inside
            // a word (`sku:TSHIRT-BLK`) is part of it.
            '-' if chars
                .clone()
                .nth(1)
                .is_some_and(|(_, n)| !n.is_whitespace()) =>
            {
                chars.next();
                tokens.push(Token::Not);
            }
            _ => {
                let mut word = String::new();
                let mut quoted = false;
                while let Some(&(_, c)) = chars.peek() {
                    if c == '"' {
                        quoted = !quoted;
                        chars.next();
                        continue;
                    }
                    if !quoted && (c.is_whitespace() || c == '(' || c == ')') {
                        break;
                    }
                    word.push(c);
                    chars.next();
                }
                if quoted {
                    return Err(error(&raw[start..], "a quote is not closed"));
                }
                tokens.push(if word == "OR" {
                    Token::Or
                } else {
                    Token::Word(word)
                });
            }
        }
    }
    Ok(tokens)
}

struct Parser {
    tokens: Vec<Token>,
    at: usize,
}

impl Parser {
    fn peek(&self) -> Option<&Token> {
        self.tokens.get(self.at)
    }

    /// `all (OR all)*`
    fn any(&mut self, depth: usize) -> Result<Search, Error> {
        let mut options = vec![self.all(depth)?];
        while self.peek() == Some(&Token::Or) {
            self.at += 1;
            if matches!(self.peek(), None | Some(Token::Or | Token::Close)) {
                return Err(error("OR", "needs a term on each side"));
            }
            options.push(self.all(depth)?);
        }
        Ok(if options.len() == 1 {
            options.remove(0)
        } else {
            Search::Any(options)
        })
    }

    /// `unary*` up to `OR`, `)` or the end.
    fn all(&mut self, depth: usize) -> Result<Search, Error> {
        let mut terms = Vec::new();
        while !matches!(self.peek(), None | Some(Token::Or | Token::Close)) {
            terms.push(self.unary(depth)?);
        }
        Ok(if terms.len() == 1 {
            terms.remove(0)
        } else {
            Search::All(terms)
        })
    }

    fn unary(&mut self, depth: usize) -> Result<Search, Error> {
        if depth >= MAX_DEPTH {
            return Err(error(
                &self.peek().map(Token::to_string).unwrap_or_default(),
                format!("groups and negations nest deeper than {MAX_DEPTH}"),
            ));
        }
        match self.tokens.get(self.at).cloned() {
            Some(Token::Not) => {
                self.at += 1;
                if matches!(self.peek(), None | Some(Token::Or | Token::Close)) {
                    return Err(error("-", "needs a term or group after it"));
                }
                Ok(Search::Not(Box::new(self.unary(depth + 1)?)))
            }
            Some(Token::Open) => {
                self.at += 1;
                let inner = self.any(depth + 1)?;
                if self.peek() != Some(&Token::Close) {
                    return Err(error("(", "a parenthesis is not closed"));
                }
                self.at += 1;
                Ok(inner)
            }
            Some(Token::Word(word)) => {
                self.at += 1;
                Ok(Search::Term(term(&word)?))
            }
            Some(other) => Err(error(&other.to_string(), "unexpected here")),
            None => Err(error("", "the query ends too soon")),
        }
    }
}

/// One `field:value` (or `field:>value`, `:>=`, `:<`, `:<=`).
fn term(word: &str) -> Result<Term, Error> {
    let Some((field, value)) = word.split_once(':') else {
        return Err(error(
            word,
            "a term is field:value (status, stage, tag, sku, id, shop, created_at, updated_at, ship_by, total, recipient, tracking)",
        ));
    };
    let (compare, value) = comparison(value);
    let bad = |reason: String| error(word, reason);
    let exact = |kind: &str| {
        if compare == Compare::Eq {
            Ok(())
        } else {
            Err(error(
                word,
                format!("{kind} takes a value, not a comparison"),
            ))
        }
    };
    if value.is_empty() {
        return Err(bad("the value is missing".into()));
    }
    Ok(match field {
        "status" => {
            exact("status")?;
            let status = OrderStatus::parse(&value.to_ascii_uppercase());
            if let OrderStatus::Unknown(_) = status {
                return Err(bad(format!("{value} is not a TikTok order status")));
            }
            Term::Status(status)
        }
        "stage" => {
            exact("stage")?;
            Term::Stage(Stage::parse(&value.to_ascii_lowercase()).map_err(|e| bad(e.reason))?)
        }
        "tag" => {
            exact("tag")?;
            Term::Tag(value.to_owned())
        }
        "sku" => {
            exact("sku")?;
            Term::Sku(Sku::parse(value).map_err(|e| bad(e.reason))?)
        }
        "shop" | "shop_id" => {
            exact("shop")?;
            Term::Shop(ShopId::parse(value).map_err(|e| bad(e.reason))?)
        }
        "id" => {
            exact("id")?;
            let (id, prefix) = match value
                .strip_suffix('*')
                .or_else(|| value.strip_suffix('…'))
                .or_else(|| value.strip_suffix("..."))
            {
                Some(start) => (start, true),
                None => (value, false),
            };
            let id = OrderId::parse(id).map_err(|e| bad(e.reason))?;
            Term::Id {
                id: id.as_str().to_owned(),
                prefix,
            }
        }
        "created_at" => Term::CreatedAt(compare, time(value).map_err(bad)?),
        "updated_at" => Term::UpdatedAt(compare, time(value).map_err(bad)?),
        "ship_by" => Term::ShipBy(compare, time(value).map_err(bad)?),
        "recipient" => {
            exact("recipient")?;
            let name = value.split_whitespace().collect::<Vec<_>>().join(" ");
            if !RECIPIENT_CHARS.contains(&name.chars().count()) {
                return Err(bad(format!(
                    "a recipient is searched by a name or part of one, {} to {} characters",
                    RECIPIENT_CHARS.start(),
                    RECIPIENT_CHARS.end()
                )));
            }
            Term::Recipient(name)
        }
        "tracking" => {
            exact("tracking")?;
            if value.len() > 128 || value.chars().any(|c| c.is_whitespace() || c.is_control()) {
                return Err(bad(
                    "a tracking number is 1 to 128 characters without spaces".into(),
                ));
            }
            Term::Tracking(value.to_owned())
        }
        "request" => {
            exact("request")?;
            let value = value.to_ascii_lowercase();
            Term::Request(match value.as_str() {
                "open" => Request::Open,
                "any" => Request::Any,
                kind => Request::Kind(AfterSaleKind::parse(kind).ok_or_else(|| {
                    bad(format!(
                        "{value} is not a kind of request; use open (awaiting the seller), cancellation, return or any"
                    ))
                })?),
            })
        }
        "total" => Term::Total(
            compare,
            value
                .parse::<Decimal>()
                .ok()
                .filter(|d| !d.is_sign_negative())
                .ok_or_else(|| bad(format!("{value} is not an amount (e.g. 100 or 99.50)")))?,
        ),
        other => {
            return Err(bad(format!(
                "unknown field {other}; use status, stage, tag, sku, id, shop, created_at, updated_at, ship_by, total, recipient, tracking or request"
            )));
        }
    })
}

fn comparison(value: &str) -> (Compare, &str) {
    for (op, compare) in [
        (">=", Compare::Ge),
        ("<=", Compare::Le),
        (">", Compare::Gt),
        ("<", Compare::Lt),
    ] {
        if let Some(rest) = value.strip_prefix(op) {
            return (compare, rest);
        }
    }
    (Compare::Eq, value)
}

/// A day (`2026-11-01`, midnight UTC), an RFC 3339 time, or a moment from now: `now`, or
/// `now` plus or minus a whole number of minutes, hours or days (`now-7d`, `now+24h`).
fn time(value: &str) -> Result<Moment, String> {
    if let Some(offset) = value.strip_prefix("now") {
        return from_now(offset).map(Moment::FromNow).ok_or_else(|| {
            format!("{value} is not a moment from now (now, now-7d, now+24h, now-30m)")
        });
    }
    if let Ok(at) = DateTime::parse_from_rfc3339(value) {
        return Ok(Moment::At(at.with_timezone(&Utc)));
    }
    NaiveDate::parse_from_str(value, "%Y-%m-%d")
        .ok()
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .map(|t| Moment::At(t.and_utc()))
        .ok_or_else(|| {
            format!(
                "{value} is not a date (2026-11-01), an RFC 3339 time or a moment from now (now-7d)"
            )
        })
}

/// `""`, or `+`/`-` and a count of `m`, `h` or `d` (at most ten years of them).
fn from_now(offset: &str) -> Option<TimeDelta> {
    if offset.is_empty() {
        return Some(TimeDelta::zero());
    }
    let (sign, rest) = match offset.as_bytes()[0] {
        b'+' => (1, &offset[1..]),
        b'-' => (-1, &offset[1..]),
        _ => return None,
    };
    let unit = rest.chars().last()?;
    let count: i64 = rest[..rest.len() - unit.len_utf8()].parse().ok()?;
    let minutes = match unit {
        'm' => count,
        'h' => count.checked_mul(60)?,
        'd' => count.checked_mul(24 * 60)?,
        _ => return None,
    };
    (0..=10 * 366 * 24 * 60)
        .contains(&minutes)
        .then(|| TimeDelta::minutes(sign * minutes))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn t(term: Term) -> Search {
        Search::Term(term)
    }

    #[test]
    fn terms_are_anded_and_read_into_domain_values() {
        let search = Search::parse(
            "status:AWAITING_SHIPMENT stage:exception tag:vip sku:TSHIRT-BLK-M created_at:>=2026-11-01 total:>100 id:5766*",
        )
        .unwrap();
        assert_eq!(
            search,
            Search::All(vec![
                t(Term::Status(OrderStatus::AwaitingShipment)),
                t(Term::Stage(Stage::Exception)),
                t(Term::Tag("vip".into())),
                t(Term::Sku(Sku::parse("TSHIRT-BLK-M").unwrap())),
                t(Term::CreatedAt(
                    Compare::Ge,
                    Moment::At("2026-11-01T00:00:00Z".parse().unwrap())
                )),
                t(Term::Total(Compare::Gt, Decimal::from(100))),
                t(Term::Id {
                    id: "5766".into(),
                    prefix: true
                }),
            ])
        );
    }

    #[test]
    fn times_may_be_moments_from_when_the_search_runs() {
        let search = Search::parse("ship_by:<now created_at:>=now-7d updated_at:<now+90m").unwrap();
        assert_eq!(
            search,
            Search::All(vec![
                t(Term::ShipBy(
                    Compare::Lt,
                    Moment::FromNow(TimeDelta::zero())
                )),
                t(Term::CreatedAt(
                    Compare::Ge,
                    Moment::FromNow(TimeDelta::days(-7))
                )),
                t(Term::UpdatedAt(
                    Compare::Lt,
                    Moment::FromNow(TimeDelta::minutes(90))
                )),
            ])
        );
        let now: DateTime<Utc> = "2026-12-07T12:00:00Z".parse().unwrap();
        assert_eq!(
            Moment::FromNow(TimeDelta::hours(-24)).at(now),
            "2026-12-06T12:00:00Z".parse::<DateTime<Utc>>().unwrap()
        );
        assert_eq!(
            Moment::At(now).at(now + TimeDelta::days(1)),
            now,
            "a fixed time stays put"
        );
        for bad in [
            "ship_by:<now-7w",
            "ship_by:<now7d",
            "ship_by:<now-d",
            "ship_by:<now-99999d",
        ] {
            let e = Search::parse(bad).unwrap_err();
            assert!(e.reason.contains("not a moment from now"), "{bad}: {e}");
        }
    }

    #[test]
    fn or_not_and_groups_nest_as_written() {
        let search =
            Search::parse("-tag:test (stage:exception OR stage:on_hold) tag:\"gift wrap\"")
                .unwrap();
        assert_eq!(
            search,
            Search::All(vec![
                Search::Not(Box::new(t(Term::Tag("test".into())))),
                Search::Any(vec![
                    t(Term::Stage(Stage::Exception)),
                    t(Term::Stage(Stage::OnHold)),
                ]),
                t(Term::Tag("gift wrap".into())),
            ])
        );
        assert_eq!(Search::parse("  ").unwrap(), Search::All(vec![]));
        // A negation right after a group (found by the fuzz corpus: it read `-tag` as a field).
        assert_eq!(
            Search::parse("(tag:a OR tag:b) -tag:test").unwrap(),
            Search::All(vec![
                Search::Any(vec![t(Term::Tag("a".into())), t(Term::Tag("b".into()))]),
                Search::Not(Box::new(t(Term::Tag("test".into())))),
            ])
        );
    }

    #[test]
    fn a_tracking_number_is_read_as_given() {
        assert_eq!(
            Search::parse("tracking:1Z999AA10123456784").unwrap(),
            t(Term::Tracking("1Z999AA10123456784".into()))
        );
    }

    #[test]
    fn a_recipient_is_searched_by_words_of_the_name_spaces_as_one() {
        assert_eq!(
            Search::parse("recipient:\"  Ada   Lovelace \" -recipient:lo").unwrap(),
            Search::All(vec![
                t(Term::Recipient("Ada Lovelace".into())),
                Search::Not(Box::new(t(Term::Recipient("lo".into())))),
            ])
        );
    }

    #[test]
    fn a_bad_query_names_the_term_and_why() {
        let cases = [
            (
                "status:SHIPPED_MAYBE",
                "status:SHIPPED_MAYBE",
                "not a TikTok order status",
            ),
            ("stage:nowhere", "stage:nowhere", "stage"),
            (
                "created_at:>=yesterday",
                "created_at:>=yesterday",
                "not a date",
            ),
            ("total:>lots", "total:>lots", "not an amount"),
            ("colour:red", "colour:red", "unknown field colour"),
            ("ship_by:<soon", "ship_by:<soon", "not a date"),
            ("vip", "vip", "field:value"),
            ("tag:>vip", "tag:>vip", "not a comparison"),
            ("(tag:a", "(", "not closed"),
            ("tag:a)", ")", "without its opening"),
            ("tag:a OR", "OR", "each side"),
            ("tag:\"open", "tag:\"open", "quote is not closed"),
            ("id:", "id:", "missing"),
            ("recipient:A", "recipient:A", "2 to 100 characters"),
            ("recipient:>ada", "recipient:>ada", "not a comparison"),
            ("tracking:\"1Z 99\"", "tracking:1Z 99", "without spaces"),
            (
                "request:refund",
                "request:refund",
                "open (awaiting the seller)",
            ),
            ("request:<open", "request:<open", "not a comparison"),
        ];
        for (query, term, why) in cases {
            let e = Search::parse(query).unwrap_err();
            assert_eq!(e.term, term, "{query}: {e}");
            assert!(e.reason.contains(why), "{query}: {e}");
        }
    }

    #[test]
    fn request_finds_open_requests_or_those_of_a_kind() {
        let read = |q: &str| {
            Search::parse(q)
                .unwrap()
                .terms()
                .into_iter()
                .cloned()
                .collect::<Vec<_>>()
        };
        assert_eq!(read("request:open"), [Term::Request(Request::Open)]);
        assert_eq!(read("request:OPEN"), [Term::Request(Request::Open)]);
        assert_eq!(
            read("request:cancellation OR request:return"),
            [
                Term::Request(Request::Kind(AfterSaleKind::Cancellation)),
                Term::Request(Request::Kind(AfterSaleKind::Return)),
            ]
        );
        assert_eq!(read("-request:any"), [Term::Request(Request::Any)]);
    }

    #[test]
    fn limits_keep_a_query_cheap() {
        assert!(Search::parse(&"tag:a ".repeat(MAX_TERMS + 1)).is_err());
        assert!(Search::parse(&format!("{}tag:a{}", "(".repeat(9), ")".repeat(9))).is_err());
        assert!(Search::parse(&"x".repeat(MAX_LEN + 1)).is_err());
    }

    proptest! {
        #[test]
        fn any_input_is_a_search_or_an_error_never_a_panic(raw in ".{0,200}") {
            let _ = Search::parse(&raw);
        }

        #[test]
        fn a_conjunction_of_tags_reads_back_every_tag(tags in proptest::collection::vec("[a-z][a-z0-9_]{0,11}", 1..8)) {
            let query = tags.iter().map(|t| format!("tag:{t}")).collect::<Vec<_>>().join(" ");
            let read: Vec<String> = Search::parse(&query).unwrap().terms().into_iter().map(|t| match t {
                Term::Tag(tag) => tag.clone(),
                other => panic!("{other:?}"),
            }).collect();
            prop_assert_eq!(read, tags);
        }
    }

    #[test]
    fn what_a_change_carries_decides_some_searches_and_not_others() {
        let id = OrderId::parse("5766").unwrap();
        let shop = ShopId::parse("7001").unwrap();
        let known = Known {
            id: &id,
            shop: &shop,
            status: &OrderStatus::AwaitingShipment,
            stage: Stage::OnHold,
        };
        let decide = |q: &str| Search::parse(q).unwrap().decide(&known);
        assert_eq!(decide("status:AWAITING_SHIPMENT stage:on_hold"), Some(true));
        assert_eq!(
            decide("status:AWAITING_SHIPMENT -stage:on_hold"),
            Some(false)
        );
        assert_eq!(decide("id:57* OR tag:vip"), Some(true));
        assert_eq!(decide("stage:shipped tag:vip"), Some(false));
        assert_eq!(decide("stage:on_hold tag:vip"), None);
        assert_eq!(decide("shop:7002 OR total:>10"), None);
        assert_eq!(decide(""), Some(true));
    }
}
