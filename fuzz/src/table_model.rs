//! A naive routing table, written from DESIGN.md and CONFORMANCE.md (R01-R06,
//! E01-E04): bindings in a plain `Vec`, routing by scanning them all.

use std::collections::{BTreeMap, BTreeSet};

use trackswitch::{ExchangeKind, ExchangeOptions, FieldTable, FieldValue, reference};

use crate::headers_model;

/// AMQP reply codes the table uses.
pub const ACCESS_REFUSED: u16 = 403;
/// 404.
pub const NOT_FOUND: u16 = 404;
/// 406.
pub const PRECONDITION_FAILED: u16 = 406;

/// A binding's destination.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum Dest {
    /// A queue, by name.
    Queue(String),
    /// An exchange, by name.
    Exchange(String),
}

/// One binding: its whole identity.
#[derive(Debug, Clone, PartialEq)]
pub struct Binding {
    /// Source exchange.
    pub source: String,
    /// Destination.
    pub dest: Dest,
    /// Binding key.
    pub key: Vec<u8>,
    /// Arguments (structural equality: part of the identity).
    pub args: FieldTable,
}

/// An exchange's declared properties.
#[derive(Debug, Clone, PartialEq)]
pub struct Exchange {
    /// Its kind.
    pub kind: ExchangeKind,
    /// Its options.
    pub options: ExchangeOptions,
}

/// Where a publish went: queue names, and (queue, binding key) pairs that matched on
/// the bindings (or default-exchange keys) that reached each queue.
#[derive(Debug, Default, PartialEq)]
pub struct Routed {
    /// Queues reached.
    pub queues: BTreeSet<String>,
    /// (queue, key) pairs.
    pub keys: BTreeSet<(String, Vec<u8>)>,
}

/// The model.
#[derive(Debug, Clone)]
pub struct Model {
    /// Every exchange by name, the default one (`""`) included.
    pub exchanges: BTreeMap<String, Exchange>,
    /// Every queue.
    pub queues: BTreeSet<String>,
    /// Every binding, each once.
    pub bindings: Vec<Binding>,
}

const MAX: usize = 255;

impl Default for Model {
    fn default() -> Self {
        let durable = ExchangeOptions {
            durable: true,
            ..ExchangeOptions::default()
        };
        let mut exchanges = BTreeMap::new();
        for (name, kind) in [
            ("", ExchangeKind::Direct),
            ("amq.direct", ExchangeKind::Direct),
            ("amq.fanout", ExchangeKind::Fanout),
            ("amq.topic", ExchangeKind::Topic),
            ("amq.headers", ExchangeKind::Headers),
            ("amq.match", ExchangeKind::Headers),
        ] {
            exchanges.insert(
                name.to_string(),
                Exchange {
                    kind,
                    options: durable.clone(),
                },
            );
        }
        Model {
            exchanges,
            queues: BTreeSet::new(),
            bindings: Vec::new(),
        }
    }
}

impl Model {
    /// Number of bindings with `name` as source.
    pub fn source_count(&self, name: &str) -> usize {
        self.bindings.iter().filter(|b| b.source == name).count()
    }

    /// E01, R01, R02.
    pub fn declare_exchange(
        &mut self,
        name: &str,
        kind: ExchangeKind,
        options: &ExchangeOptions,
    ) -> Result<(), u16> {
        if name.len() > MAX {
            return Err(PRECONDITION_FAILED);
        }
        if name.is_empty() {
            return Err(ACCESS_REFUSED);
        }
        if let Some(x) = self.exchanges.get(name) {
            return if x.kind == kind && x.options == *options {
                Ok(())
            } else {
                Err(PRECONDITION_FAILED)
            };
        }
        if name.starts_with("amq.") {
            return Err(ACCESS_REFUSED);
        }
        self.exchanges.insert(
            name.to_string(),
            Exchange {
                kind,
                options: options.clone(),
            },
        );
        Ok(())
    }

    /// E03, R01, R02.
    pub fn delete_exchange(&mut self, name: &str, if_unused: bool) -> Result<bool, u16> {
        if name.is_empty() || name.starts_with("amq.") {
            return Err(ACCESS_REFUSED);
        }
        if !self.exchanges.contains_key(name) {
            return Ok(false);
        }
        if if_unused && self.source_count(name) > 0 {
            return Err(PRECONDITION_FAILED);
        }
        self.remove_exchange(name);
        Ok(true)
    }

    /// Removes an exchange and every binding it is in; auto-deletes (E02) cascade.
    fn remove_exchange(&mut self, name: &str) {
        let mut doomed = vec![name.to_string()];
        while let Some(x) = doomed.pop() {
            if self.exchanges.remove(&x).is_none() {
                continue;
            }
            let as_dest = Dest::Exchange(x.clone());
            let gone: Vec<Binding> = self
                .bindings
                .iter()
                .filter(|b| b.source == x || b.dest == as_dest)
                .cloned()
                .collect();
            self.bindings
                .retain(|b| !(b.source == x || b.dest == as_dest));
            for b in gone {
                if b.source != x {
                    doomed.extend(self.auto_deleted(&b.source));
                }
            }
        }
    }

    /// `Some(source)` when `source` must now be auto-deleted (E02): it is
    /// auto-delete and has no binding left as a source (it just lost one).
    fn auto_deleted(&self, source: &str) -> Option<String> {
        let x = self.exchanges.get(source)?;
        (x.options.auto_delete && self.source_count(source) == 0).then(|| source.to_string())
    }

    /// Queue declare (names only).
    pub fn declare_queue(&mut self, name: &str) -> Result<(), u16> {
        if name.is_empty() || name.len() > MAX {
            return Err(PRECONDITION_FAILED);
        }
        if self.queues.contains(name) {
            return Ok(());
        }
        if name.starts_with("amq.") {
            return Err(ACCESS_REFUSED);
        }
        self.queues.insert(name.to_string());
        Ok(())
    }

    /// Queue delete: its bindings go, which may auto-delete exchanges.
    pub fn delete_queue(&mut self, name: &str) -> bool {
        if !self.queues.remove(name) {
            return false;
        }
        let as_dest = Dest::Queue(name.to_string());
        let gone: Vec<Binding> = self
            .bindings
            .iter()
            .filter(|b| b.dest == as_dest)
            .cloned()
            .collect();
        self.bindings.retain(|b| b.dest != as_dest);
        let mut doomed: Vec<String> = Vec::new();
        for b in gone {
            if let Some(x) = self.auto_deleted(&b.source)
                && !doomed.contains(&x)
            {
                doomed.push(x);
            }
        }
        for x in doomed {
            self.remove_exchange(&x);
        }
        true
    }

    /// Checks what bind and unbind check first (R01, E04). RabbitMQ refuses the default
    /// exchange on either side (403) before it looks anything up (404).
    fn check_ends(&self, source: &str, dest: &Dest) -> Result<(), u16> {
        if source.is_empty() || *dest == Dest::Exchange(String::new()) {
            return Err(ACCESS_REFUSED);
        }
        if !self.exchanges.contains_key(source) {
            return Err(NOT_FOUND);
        }
        let exists = match dest {
            Dest::Queue(q) => self.queues.contains(q),
            Dest::Exchange(x) => self.exchanges.contains_key(x),
        };
        if !exists {
            return Err(NOT_FOUND);
        }
        Ok(())
    }

    /// E04, R03 (x-match checked at bind).
    pub fn bind(
        &mut self,
        source: &str,
        dest: &Dest,
        key: &[u8],
        args: &FieldTable,
    ) -> Result<bool, u16> {
        self.check_ends(source, dest)?;
        if key.len() > MAX {
            return Err(PRECONDITION_FAILED);
        }
        if self.exchanges[source].kind == ExchangeKind::Headers
            && headers_model::mode(args).is_err()
        {
            return Err(PRECONDITION_FAILED);
        }
        let b = Binding {
            source: source.to_string(),
            dest: dest.clone(),
            key: key.to_vec(),
            args: args.clone(),
        };
        if self.bindings.contains(&b) {
            return Ok(false);
        }
        self.bindings.push(b);
        Ok(true)
    }

    /// E04, E02.
    pub fn unbind(
        &mut self,
        source: &str,
        dest: &Dest,
        key: &[u8],
        args: &FieldTable,
    ) -> Result<bool, u16> {
        self.check_ends(source, dest)?;
        let Some(i) = self
            .bindings
            .iter()
            .position(|b| b.source == source && b.dest == *dest && b.key == key && b.args == *args)
        else {
            return Ok(false);
        };
        self.bindings.remove(i);
        if let Some(x) = self.auto_deleted(source) {
            self.remove_exchange(&x);
        }
        Ok(true)
    }

    /// R01-R06, R08 (the routing part).
    pub fn route(
        &self,
        exchange: &str,
        key: &[u8],
        headers: Option<&FieldTable>,
    ) -> Result<Routed, u16> {
        if key.len() > MAX {
            return Err(PRECONDITION_FAILED);
        }
        let Some(start) = self.exchanges.get(exchange) else {
            return Err(NOT_FOUND);
        };
        if start.options.internal {
            return Err(ACCESS_REFUSED);
        }
        let empty = FieldTable::new();
        let headers = headers.unwrap_or(&empty);
        let mut keys: Vec<Vec<u8>> = vec![key.to_vec()];
        for h in ["CC", "BCC"] {
            let mut found = None;
            for (n, v) in headers.iter() {
                if n == h {
                    found = Some(v);
                }
            }
            match found {
                None => {}
                Some(FieldValue::Array(items)) => {
                    for item in items {
                        match item {
                            FieldValue::ShortString(s) => keys.push(s.as_bytes().to_vec()),
                            FieldValue::LongString(b) => keys.push(b.clone()),
                            _ => return Err(PRECONDITION_FAILED),
                        }
                    }
                }
                Some(_) => return Err(PRECONDITION_FAILED),
            }
        }
        let mut routed = Routed::default();
        let mut visited: BTreeSet<String> = BTreeSet::new();
        let mut work = vec![exchange.to_string()];
        visited.insert(exchange.to_string());
        while let Some(x) = work.pop() {
            let xe = &self.exchanges[&x];
            let mut any = false;
            if x.is_empty() {
                for k in &keys {
                    if let Ok(q) = std::str::from_utf8(k)
                        && self.queues.contains(q)
                    {
                        any = true;
                        routed.queues.insert(q.to_string());
                        routed.keys.insert((q.to_string(), k.clone()));
                    }
                }
            }
            for b in self.bindings.iter().filter(|b| b.source == x) {
                let matched = match xe.kind {
                    ExchangeKind::Direct => keys.contains(&b.key),
                    ExchangeKind::Fanout => true,
                    ExchangeKind::Topic => keys.iter().any(|k| reference::matches(&b.key, k)),
                    ExchangeKind::Headers => {
                        headers_model::matches(&b.args, headers).expect("checked at bind")
                    }
                };
                if !matched {
                    continue;
                }
                any = true;
                match &b.dest {
                    Dest::Queue(q) => {
                        routed.queues.insert(q.clone());
                        routed.keys.insert((q.clone(), b.key.clone()));
                    }
                    Dest::Exchange(e) => {
                        if visited.insert(e.clone()) {
                            work.push(e.clone());
                        }
                    }
                }
            }
            // R05: only when this exchange's own bindings yielded nothing; a missing
            // alternate exchange is skipped.
            if !any
                && let Some(ae) = &xe.options.alternate_exchange
                && self.exchanges.contains_key(ae)
                && visited.insert(ae.clone())
            {
                work.push(ae.clone());
            }
        }
        Ok(routed)
    }
}
