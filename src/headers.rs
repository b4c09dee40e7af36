//! Headers exchange matching: a binding's arguments against a message's headers.
//!
//! A binding's `x-match` argument chooses the rule:
//!
//! | `x-match` | matches when | `x-` arguments |
//! |---|---|---|
//! | `all` (default) | every argument is matched (so no argument matches everything) | ignored |
//! | `any` | at least one argument is matched (so no argument matches nothing) | ignored |
//! | `all-with-x` | as `all` | matched too |
//! | `any-with-x` | as `any` | matched too |
//!
//! `x-match` itself is never matched. An argument is matched when the message has a
//! header of that name and, unless the argument's value is `void` (which asks only for
//! presence), the header's value is the same value ([`FieldValue::same_value`]: integers
//! of any width compare by value, `1 != 1.0`, `"1" != 1`). When a table names a key
//! twice, the later entry wins, in arguments and headers alike.
//!
//! Cost: O(arguments) per binding with O(1) header lookups (headers are indexed once
//! per message when there are many), so a huge header table cannot slow every binding.

use hashbrown::HashMap;

use crate::field::{FieldTable, FieldValue};

/// How a headers binding combines its arguments.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum XMatch {
    /// Every argument must match; `x-` arguments are ignored.
    All,
    /// At least one argument must match; `x-` arguments are ignored.
    Any,
    /// Every argument must match, `x-` arguments included.
    AllWithX,
    /// At least one argument must match, `x-` arguments included.
    AnyWithX,
}

/// A headers binding's arguments, checked and ready to match.
///
/// # Examples
///
/// ```
/// use trackswitch::{FieldTable, FieldValue, HeadersMatch};
///
/// let mut args = FieldTable::new();
/// args.insert("x-match", "any");
/// args.insert("format", "pdf");
/// args.insert("type", "report");
/// let binding = HeadersMatch::new(&args)?;
///
/// let mut headers = FieldTable::new();
/// headers.insert("format", "pdf");
/// assert!(binding.matches(&headers));
/// headers.insert("format", "zip");
/// assert!(!binding.matches(&headers));
/// # Ok::<(), trackswitch::BindError>(())
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct HeadersMatch {
    mode: XMatch,
    /// The arguments that take part, duplicates resolved (last wins), `x-match` and
    /// (unless `-with-x`) other `x-` names left out. `None` is `void`: presence only.
    args: Vec<(String, Option<FieldValue>)>,
}

impl HeadersMatch {
    /// Checks a binding's arguments.
    ///
    /// # Errors
    ///
    /// [`BindError::InvalidArgument`](crate::BindError::InvalidArgument) (406) when
    /// `x-match` is not a string, or not one of `all`, `any`, `all-with-x`,
    /// `any-with-x`.
    pub fn new(arguments: &FieldTable) -> Result<HeadersMatch, crate::BindError> {
        let mode = match arguments.get("x-match") {
            None => XMatch::All,
            Some(v) => match v.as_bytes() {
                Some(b"all") => XMatch::All,
                Some(b"any") => XMatch::Any,
                Some(b"all-with-x") => XMatch::AllWithX,
                Some(b"any-with-x") => XMatch::AnyWithX,
                _ => {
                    return Err(crate::BindError::InvalidArgument {
                        reason: format!(
                            "x-match must be one of all, any, all-with-x, any-with-x; got {v}"
                        ),
                    });
                }
            },
        };
        let with_x = matches!(mode, XMatch::AllWithX | XMatch::AnyWithX);
        let mut args: Vec<(String, Option<FieldValue>)> = Vec::new();
        let mut at: HashMap<&str, usize> = HashMap::new();
        for (name, value) in arguments.iter() {
            if name == "x-match" || (!with_x && name.starts_with("x-")) {
                continue;
            }
            let value = (!matches!(value, FieldValue::Void)).then(|| value.clone());
            match at.get(name) {
                Some(&i) => args[i].1 = value,
                None => {
                    at.insert(name, args.len());
                    args.push((name.to_owned(), value));
                }
            }
        }
        Ok(HeadersMatch { mode, args })
    }

    /// The binding's rule.
    pub fn mode(&self) -> XMatch {
        self.mode
    }

    /// Whether a message with these headers matches the binding.
    pub fn matches(&self, headers: &FieldTable) -> bool {
        self.matches_in(&HeaderIndex::new(headers))
    }

    pub(crate) fn matches_in(&self, headers: &HeaderIndex<'_>) -> bool {
        let hit = |(name, want): &(String, Option<FieldValue>)| match headers.get(name) {
            None => false,
            Some(have) => want.as_ref().is_none_or(|w| w.same_value(have)),
        };
        match self.mode {
            XMatch::All | XMatch::AllWithX => self.args.iter().all(hit),
            XMatch::Any | XMatch::AnyWithX => self.args.iter().any(hit),
        }
    }
}

/// A message's headers with O(1) lookups (last duplicate wins), built once per message.
#[derive(Debug)]
pub(crate) enum HeaderIndex<'a> {
    /// Few headers: a reverse linear scan is fastest.
    Small(&'a FieldTable),
    /// Many headers: name -> last value.
    Large(HashMap<&'a str, &'a FieldValue>),
}

impl<'a> HeaderIndex<'a> {
    const SMALL: usize = 16;

    pub(crate) fn new(headers: &'a FieldTable) -> HeaderIndex<'a> {
        if headers.len() <= Self::SMALL {
            HeaderIndex::Small(headers)
        } else {
            HeaderIndex::Large(headers.iter().collect())
        }
    }

    fn get(&self, name: &str) -> Option<&'a FieldValue> {
        match self {
            HeaderIndex::Small(t) => t.get(name),
            HeaderIndex::Large(m) => m.get(name).copied(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table(entries: &[(&str, FieldValue)]) -> FieldTable {
        entries.iter().cloned().collect()
    }

    #[test]
    fn all_and_any_with_no_arguments() {
        let h = table(&[("a", 1.into())]);
        let all = HeadersMatch::new(&FieldTable::new()).unwrap();
        assert!(all.matches(&h));
        assert!(all.matches(&FieldTable::new()));
        let any = HeadersMatch::new(&table(&[("x-match", "any".into())])).unwrap();
        assert!(!any.matches(&h));
    }

    #[test]
    fn x_arguments_only_in_with_x_modes() {
        let h = table(&[("x-tenant", "a".into())]);
        let all = HeadersMatch::new(&table(&[("x-tenant", "b".into())])).unwrap();
        assert!(all.matches(&h), "x- args ignored in all");
        let all_x = HeadersMatch::new(&table(&[
            ("x-match", "all-with-x".into()),
            ("x-tenant", "b".into()),
        ]))
        .unwrap();
        assert!(!all_x.matches(&h));
        let any_x = HeadersMatch::new(&table(&[
            ("x-match", "any-with-x".into()),
            ("x-tenant", "a".into()),
        ]))
        .unwrap();
        assert!(any_x.matches(&h));
    }

    #[test]
    fn void_means_presence_and_widths_compare_by_value() {
        let b = HeadersMatch::new(&table(&[
            ("k", FieldValue::Void),
            ("n", FieldValue::ShortInt(5)),
        ]))
        .unwrap();
        assert!(b.matches(&table(&[
            ("k", "x".into()),
            ("n", FieldValue::LongLongUInt(5))
        ])));
        assert!(!b.matches(&table(&[("n", FieldValue::LongLongUInt(5))])));
        assert!(!b.matches(&table(&[("k", 1.into()), ("n", FieldValue::Double(5.0))])));
    }

    #[test]
    fn bad_x_match_is_refused() {
        assert!(HeadersMatch::new(&table(&[("x-match", "some".into())])).is_err());
        assert!(HeadersMatch::new(&table(&[("x-match", 1.into())])).is_err());
        assert!(
            HeadersMatch::new(&table(&[(
                "x-match",
                FieldValue::ShortString("any".into())
            )]))
            .is_ok()
        );
    }

    #[test]
    fn later_duplicates_win_and_large_headers_are_indexed() {
        let mut h = FieldTable::new();
        for i in 0..100 {
            h.push(format!("h{i}"), i);
        }
        h.push("h3", 1000);
        let b = HeadersMatch::new(&table(&[("h3", 1000.into())])).unwrap();
        assert!(b.matches(&h));
        let b = HeadersMatch::new(&table(&[("h3", 1.into()), ("h3", 3.into())])).unwrap();
        assert!(!b.matches(&h));
    }
}
