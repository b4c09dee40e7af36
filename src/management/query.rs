//! The list query parameters of RabbitMQ's API, applied to a list of JSON objects:
//! `sort` (a field, or a dotted path into nested objects) and `sort_reverse`;
//! `columns` (comma-separated fields or dotted paths: only those are returned); and
//! pagination (`page`, from 1, `page_size`, 1 to 500, default 100, `name` with
//! `use_regex` to filter by name), which wraps the page in RabbitMQ's envelope.

use std::cmp::Ordering;
use std::collections::HashMap;

use serde_json::{Map, Value};

use super::error::{ApiError, ApiResult};

/// The largest page RabbitMQ serves.
const MAX_PAGE_SIZE: usize = 500;
const DEFAULT_PAGE_SIZE: usize = 100;
/// A `name` regex is compiled with this much memory at most.
const REGEX_SIZE_LIMIT: usize = 1 << 20;

/// The query parameters of a request, by name (a repeated name keeps its last value).
pub(super) type Params = HashMap<String, String>;

/// Whether a boolean parameter is set (`true`, as RabbitMQ spells it).
pub(super) fn flag(params: &Params, name: &str) -> bool {
    params.get(name).is_some_and(|v| v == "true")
}

/// A list as the request asks for it: sorted (by `sort`, else as given), paginated
/// when `page` is present (then an envelope object), each object cut to `columns`.
///
/// # Errors
///
/// 400 for a bad page number, page size or `name` regex, or a page past the end, in
/// RabbitMQ's words.
pub(super) fn list(mut items: Vec<Value>, params: &Params) -> ApiResult<Value> {
    if let Some(key) = params.get("sort").filter(|k| !k.is_empty()) {
        let path: Vec<&str> = key.split('.').collect();
        items.sort_by(|a, b| compare(lookup(a, &path), lookup(b, &path)));
    }
    if flag(params, "sort_reverse") {
        items.reverse();
    }
    let columns = columns(params);
    let Some(page) = params.get("page") else {
        return Ok(Value::Array(
            items.into_iter().map(|v| select(v, &columns)).collect(),
        ));
    };
    let invalid = || ApiError::bad_request("Pagination parameters are invalid");
    let page: usize = page.parse().map_err(|_| invalid())?;
    let page_size = match params.get("page_size") {
        None => DEFAULT_PAGE_SIZE,
        Some(s) => s.parse().map_err(|_| invalid())?,
    };
    if page == 0 || page_size == 0 || page_size > MAX_PAGE_SIZE {
        let size = params.get("page_size").map_or("undefined", String::as_str);
        return Err(ApiError::pagination(
            "invalid_pagination_parameters",
            format!("Invalid pagination parameters: page number {page}, page size {size}"),
        ));
    }
    let total = items.len();
    if let Some(filter) = params.get("name").filter(|n| !n.is_empty()) {
        let matches: Box<dyn Fn(&str) -> bool> = if flag(params, "use_regex") {
            let re = regex::RegexBuilder::new(filter)
                .size_limit(REGEX_SIZE_LIMIT)
                .build()
                .map_err(|_| invalid())?;
            Box::new(move |name| re.is_match(name))
        } else {
            let needle = filter.to_lowercase();
            Box::new(move |name| name.to_lowercase().contains(&needle))
        };
        items.retain(|v| matches(v.get("name").and_then(Value::as_str).unwrap_or("")));
    }
    let filtered = items.len();
    let page_count = filtered.div_ceil(page_size).max(1);
    if page > page_count {
        return Err(ApiError::pagination(
            "page_out_of_range",
            format!("Page out of range, page: {page} page size: {page_size}, len: {filtered}"),
        ));
    }
    let page_items: Vec<Value> = items
        .into_iter()
        .skip((page - 1) * page_size)
        .take(page_size)
        .map(|v| select(v, &columns))
        .collect();
    Ok(serde_json::json!({
        "filtered_count": filtered,
        "item_count": page_items.len(),
        "items": page_items,
        "page": page,
        "page_count": page_count,
        "page_size": page_size,
        "total_count": total,
    }))
}

/// One object as the request asks for it (`columns`).
pub(super) fn one(item: Value, params: &Params) -> Value {
    select(item, &columns(params))
}

/// The `columns` parameter as dotted paths; empty for all.
fn columns(params: &Params) -> Vec<Vec<String>> {
    params
        .get("columns")
        .map(|c| {
            c.split(',')
                .filter(|s| !s.is_empty())
                .map(|s| s.split('.').map(str::to_owned).collect())
                .collect()
        })
        .unwrap_or_default()
}

/// The value at a dotted path, if any.
fn lookup<'a>(value: &'a Value, path: &[&str]) -> Option<&'a Value> {
    path.iter().try_fold(value, |v, key| v.get(key))
}

/// Only the `columns` of an object (all of it without columns); unknown ones are
/// left out.
fn select(value: Value, columns: &[Vec<String>]) -> Value {
    if columns.is_empty() {
        return value;
    }
    let mut out = Map::new();
    for path in columns {
        let refs: Vec<&str> = path.iter().map(String::as_str).collect();
        if let Some(v) = lookup(&value, &refs) {
            insert(&mut out, path, v.clone());
        }
    }
    Value::Object(out)
}

fn insert(out: &mut Map<String, Value>, path: &[String], value: Value) {
    match path {
        [] => {}
        [last] => {
            out.insert(last.clone(), value);
        }
        [first, rest @ ..] => {
            let entry = out
                .entry(first.clone())
                .or_insert_with(|| Value::Object(Map::new()));
            if let Value::Object(inner) = entry {
                insert(inner, rest, value);
            }
        }
    }
}

/// Erlang's term order, which RabbitMQ sorts by: numbers, then atoms (booleans,
/// `null` and missing values), then strings; lists and objects after.
fn compare(a: Option<&Value>, b: Option<&Value>) -> Ordering {
    fn rank(v: Option<&Value>) -> u8 {
        match v {
            Some(Value::Number(_)) => 0,
            None | Some(Value::Null | Value::Bool(_)) => 1,
            Some(Value::String(_)) => 3,
            Some(Value::Object(_)) => 2,
            Some(Value::Array(_)) => 4,
        }
    }
    match (a, b) {
        (Some(Value::Number(x)), Some(Value::Number(y))) => {
            let (x, y) = (x.as_f64().unwrap_or(0.0), y.as_f64().unwrap_or(0.0));
            x.total_cmp(&y)
        }
        (Some(Value::String(x)), Some(Value::String(y))) => x.cmp(y),
        (Some(Value::Bool(x)), Some(Value::Bool(y))) => x.cmp(y),
        _ => rank(a).cmp(&rank(b)),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn params(pairs: &[(&str, &str)]) -> Params {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    fn queues() -> Vec<Value> {
        vec![
            json!({"name": "b", "messages": 2, "message_stats": {"publish": 5}}),
            json!({"name": "a", "messages": 10}),
            json!({"name": "c", "messages": 1, "message_stats": {"publish": 1}}),
        ]
    }

    #[test]
    fn sorts_by_field_and_nested_path_with_missing_after_numbers() {
        let out = list(
            queues(),
            &params(&[("sort", "messages"), ("columns", "name")]),
        )
        .unwrap();
        assert_eq!(out, json!([{"name": "c"}, {"name": "b"}, {"name": "a"}]));
        let out = list(
            queues(),
            &params(&[("sort", "message_stats.publish"), ("columns", "name")]),
        )
        .unwrap();
        assert_eq!(out, json!([{"name": "c"}, {"name": "b"}, {"name": "a"}]));
        let out = list(
            queues(),
            &params(&[
                ("sort", "name"),
                ("sort_reverse", "true"),
                ("columns", "name"),
            ]),
        )
        .unwrap();
        assert_eq!(out, json!([{"name": "c"}, {"name": "b"}, {"name": "a"}]));
    }

    #[test]
    fn columns_keep_nested_paths_and_drop_unknown_ones() {
        let out = one(
            queues().remove(0),
            &params(&[("columns", "name,message_stats.publish,bogus")]),
        );
        assert_eq!(out, json!({"name": "b", "message_stats": {"publish": 5}}));
    }

    #[test]
    fn pages_filter_by_name_and_refuse_bad_parameters_as_rabbitmq() {
        let p = params(&[
            ("page", "2"),
            ("page_size", "2"),
            ("sort", "name"),
            ("columns", "name"),
        ]);
        assert_eq!(
            list(queues(), &p).unwrap(),
            json!({"filtered_count": 3, "item_count": 1, "items": [{"name": "c"}],
                   "page": 2, "page_count": 2, "page_size": 2, "total_count": 3})
        );
        let p = params(&[
            ("page", "1"),
            ("name", "^[ab]$"),
            ("use_regex", "true"),
            ("columns", "name"),
        ]);
        assert_eq!(list(queues(), &p).unwrap()["filtered_count"], 2);
        let p = params(&[("page", "1"), ("name", "B")]);
        assert_eq!(list(queues(), &p).unwrap()["filtered_count"], 1);
        for (p, status) in [
            (params(&[("page", "0")]), 400),
            (params(&[("page", "abc")]), 400),
            (params(&[("page", "1"), ("page_size", "501")]), 400),
            (params(&[("page", "3"), ("page_size", "2")]), 400),
            (
                params(&[("page", "1"), ("name", "("), ("use_regex", "true")]),
                400,
            ),
        ] {
            assert_eq!(list(queues(), &p).unwrap_err().status().as_u16(), status);
        }
        // An empty list has one (empty) page.
        assert_eq!(
            list(vec![], &params(&[("page", "1")])).unwrap()["page_count"],
            1
        );
    }
}
