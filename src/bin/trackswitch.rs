//! `trackswitch`: command-line tools for the trackswitch routing library.
//!
//! `trackswitch match [FILE]` is the routing debugger: it reads one JSON object from
//! `FILE`, or from stdin when `FILE` is absent or `-`,
//!
//! ```json
//! {"exchange_type": "topic", "patterns": ["a.*", "#"], "keys": ["a.b", ""]}
//! ```
//!
//! binds pattern `i` to its own queue `i` on a fresh exchange of that kind (`topic`,
//! the default, `direct` or `fanout`), routes every key, and prints one JSON object whose
//! `matches[k]` lists, ascending, the indices of the patterns whose queue key `k` reaches:
//!
//! ```json
//! {"matches": [[0, 1], [1]], "rejected_patterns": [], "rejected_keys": []}
//! ```
//!
//! A pattern or key the table refuses (over 255 bytes of UTF-8) or that has no UTF-8
//! encoding at all (a lone UTF-16 surrogate escape such as `"\ud800"`) is listed in
//! `rejected_patterns` / `rejected_keys` as `{"index": i, "error": "..."}`, and a refused
//! key gets `null` in `matches`. This is the format of the RabbitMQ oracle in
//! `shared/tools/rabbit/oracle.py`, so both outputs can be diffed.
//!
//! `trackswitch serve [--listen ADDR] [--user NAME:PASSWORD]... [--config FILE]
//! [--definitions FILE] [--tls-listen ADDR --tls-cert FILE --tls-key FILE [--tls-ca
//! FILE] [--tls-verify MODE]]` runs the AMQP 0-9-1 server (feature `server`) on
//! `ADDR` (default `localhost:5672`: 127.0.0.1 and ::1), and with `--tls-listen`
//! (feature `tls`) an `amqps` listener too, until Ctrl-C or SIGTERM, then closes every
//! connection with 320 CONNECTION_FORCED (waiting a bounded time for them) and exits 0.
//! `--user` and the default-user environment
//! variables (`TRACKSWITCH_DEFAULT_USER` / `_PASS`, RabbitMQ's `RABBITMQ_DEFAULT_USER`
//! / `_PASS`) replace the default `guest`. The default user gets all permissions on
//! `/`, as RabbitMQ's; users a config file lists (and `--user` users beside them) get
//! all permissions on every vhost unless the file has a `permissions` key, which then
//! says exactly who may do what (the default user keeps `/` unless it names it).
//! Definitions (`--definitions`) that bring users replace the default guest.
//!
//! Arguments are parsed by clap (`--help` on every command). Exit status: 0 on success;
//! 2 on a usage error (clap's message and usage on stderr) or invalid input (unreadable
//! file, bad JSON, wrong shape, unknown field or exchange type: a one-line message on
//! stderr); 1 on an internal error or when the output cannot be written.

use std::borrow::Cow;
use std::ffi::{OsStr, OsString};
use std::io::{self, BufWriter, Read, Write};
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use serde::{Deserialize, Serialize};
use trackswitch::{
    Destination, ExchangeKind, ExchangeOptions, FieldTable, PRECONDITION_FAILED, RouteResult,
    RoutingTable,
};

/// The command line (clap): `--help` on each command, errors with exit status 2.
#[derive(Parser)]
#[command(
    name = "trackswitch",
    version,
    about = "AMQP 0-9-1 routing: the routing debugger and the server",
    after_help = "exit status: 0 ok, 2 usage error or invalid input, 1 internal or output error",
    disable_help_subcommand = false
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Route keys through patterns as RabbitMQ would
    #[command(long_about = MATCH_ABOUT)]
    Match {
        /// The input JSON; stdin when absent or "-"
        #[arg(value_name = "FILE")]
        file: Option<OsString>,
    },
    /// Run the AMQP 0-9-1 server until Ctrl-C or SIGTERM
    #[cfg(feature = "server")]
    #[command(after_help = serve::AFTER_HELP)]
    Serve(Box<serve::Args>),
    /// Load generator: producers and consumers against an AMQP 0-9-1 server
    /// (trackswitch or RabbitMQ), rates and end-to-end latency
    #[cfg(feature = "server")]
    Perf(Box<perf::Args>),
}

const MATCH_ABOUT: &str = r##"Route keys through patterns as RabbitMQ would. Reads one JSON object from
FILE, or from stdin when FILE is absent or "-":
  {"exchange_type": "topic", "patterns": ["a.*", "#"], "keys": ["a.b", ""]}
exchange_type is "topic" (default), "direct" or "fanout"; pattern i is bound to its
own queue i. Prints one JSON object:
  {"matches": [[0, 1], [1]], "rejected_patterns": [], "rejected_keys": []}
matches[k] lists, ascending, the patterns whose queue key k reaches. A refused pattern
or key (over 255 bytes of UTF-8, or a lone surrogate) is listed as
{"index": i, "error": "..."}; a refused key's matches are null."##;

/// The exchange every pattern is bound to.
const EXCHANGE: &str = "match";

/// Error text for a string that holds a lone surrogate (see [`mask_lone_surrogates`]).
const LONE_SURROGATE: &str = "not valid Unicode: a lone UTF-16 surrogate has no UTF-8 encoding";

/// Why the command failed: the message for stderr and the exit status. Usage errors
/// are clap's (status 2, with the usage).
struct Failure {
    status: u8,
    message: String,
}

impl Failure {
    /// Unreadable or invalid input: exit status 2.
    fn input(message: impl Into<String>) -> Failure {
        Failure {
            status: 2,
            message: message.into(),
        }
    }

    /// A failure of this program (or of writing its output): exit status 1.
    fn internal(message: impl Into<String>) -> Failure {
        Failure {
            status: 1,
            message: message.into(),
        }
    }
}

fn main() -> ExitCode {
    let result = match Cli::parse().command {
        Command::Match { file } => run_match(file.as_deref()),
        #[cfg(feature = "server")]
        Command::Serve(args) => serve::run(*args),
        #[cfg(feature = "server")]
        Command::Perf(args) => perf::run(*args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(failure) => {
            eprintln!("trackswitch: {}", failure.message);
            ExitCode::from(failure.status)
        }
    }
}

/// `trackswitch match [FILE]`.
fn run_match(file: Option<&OsStr>) -> Result<(), Failure> {
    let input = match file {
        Some(path) if path != "-" => std::fs::read(path)
            .map_err(|e| Failure::input(format!("cannot read {}: {e}", path.to_string_lossy())))?,
        _ => {
            let mut buf = Vec::new();
            io::stdin()
                .read_to_end(&mut buf)
                .map_err(|e| Failure::input(format!("cannot read stdin: {e}")))?;
            buf
        }
    };
    let case = Case::parse(&input).map_err(Failure::input)?;
    let report = case.route()?;
    write_report(&report).map_err(|e| Failure::internal(format!("cannot write output: {e}")))
}

/// Prints the output object (fields in declaration order, the documented one), spaced
/// as Python's `json.dump` spaces the oracle's output.
fn write_report(report: &Report) -> io::Result<()> {
    let mut out = BufWriter::new(io::stdout().lock());
    report.serialize(&mut serde_json::Serializer::with_formatter(
        &mut out,
        PythonSpacing,
    ))?;
    writeln!(out)?;
    out.flush()
}

/// serde_json's compact output with Python's default separators, `", "` and `": "`.
struct PythonSpacing;

impl serde_json::ser::Formatter for PythonSpacing {
    fn begin_array_value<W: ?Sized + Write>(&mut self, w: &mut W, first: bool) -> io::Result<()> {
        if first { Ok(()) } else { w.write_all(b", ") }
    }

    fn begin_object_key<W: ?Sized + Write>(&mut self, w: &mut W, first: bool) -> io::Result<()> {
        if first { Ok(()) } else { w.write_all(b", ") }
    }

    fn begin_object_value<W: ?Sized + Write>(&mut self, w: &mut W) -> io::Result<()> {
        w.write_all(b": ")
    }
}

/// The answer of `match`: one entry per key in `matches` (`null` for a refused key),
/// refusals as `{"index", "error"}` objects.
#[derive(Serialize)]
struct Report {
    matches: Vec<Option<Vec<usize>>>,
    rejected_patterns: Vec<Rejected>,
    rejected_keys: Vec<Rejected>,
}

/// A refused pattern or key.
#[derive(Serialize)]
struct Rejected {
    index: usize,
    error: String,
}

/// The `match` input as written.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Input {
    #[serde(default)]
    exchange_type: Option<ExchangeKind>,
    patterns: Vec<String>,
    keys: Vec<String>,
}

/// A parsed `match` input.
struct Case {
    kind: ExchangeKind,
    patterns: Vec<String>,
    keys: Vec<String>,
    /// The character that stands for lone surrogates in `patterns` and `keys`, if the
    /// input had any.
    marker: Option<char>,
}

impl Case {
    /// Parses the input JSON; the error is a one-line message.
    fn parse(input: &[u8]) -> Result<Case, String> {
        let (text, marker) = mask_lone_surrogates(input)?;
        let input: Input = serde_json::from_slice(&text).map_err(|e| match e.classify() {
            serde_json::error::Category::Data => format!("invalid input: {e}"),
            _ => format!("invalid JSON: {e}"),
        })?;
        let kind = match input.exchange_type.unwrap_or(ExchangeKind::Topic) {
            ExchangeKind::Headers => {
                return Err(
                    "invalid input: exchange_type \"headers\" cannot be matched by routing key (expected \"topic\", \"direct\" or \"fanout\")".into(),
                );
            }
            kind => kind,
        };
        Ok(Case {
            kind,
            patterns: input.patterns,
            keys: input.keys,
            marker,
        })
    }

    /// Why a pattern or key cannot even be offered to the table, if it cannot.
    fn unencodable(&self, s: &str) -> Option<&'static str> {
        self.marker
            .filter(|&m| s.contains(m))
            .map(|_| LONE_SURROGATE)
    }

    /// Binds and routes everything.
    fn route(&self) -> Result<Report, Failure> {
        let bug = |what: &str, e: &dyn std::fmt::Display| {
            Failure::internal(format!("internal error: {what}: {e}"))
        };
        let mut table = RoutingTable::new();
        table
            .declare_exchange(EXCHANGE, self.kind, &ExchangeOptions::default())
            .map_err(|e| bug("declaring the exchange", &e))?;
        let none = FieldTable::new();
        // Queue index -> the pattern bound to that queue.
        let mut owner: Vec<Option<usize>> = Vec::new();
        let mut rejected_patterns = Vec::new();
        for (i, pattern) in self.patterns.iter().enumerate() {
            let queue = format!("q{i}");
            let id = table
                .declare_queue(&queue)
                .map_err(|e| bug("declaring a queue", &e))?;
            if owner.len() <= id.index() {
                owner.resize(id.index() + 1, None);
            }
            owner[id.index()] = Some(i);
            if let Some(error) = self.unencodable(pattern) {
                rejected_patterns.push(Rejected {
                    index: i,
                    error: error.into(),
                });
                continue;
            }
            match table.bind(EXCHANGE, Destination::Queue(&queue), pattern, &none) {
                Ok(_) => {}
                // 406: the broker refuses this binding key; 403/404 would be our bug.
                Err(e) if e.reply_code() == PRECONDITION_FAILED => {
                    rejected_patterns.push(Rejected {
                        index: i,
                        error: e.to_string(),
                    });
                }
                Err(e) => return Err(bug("binding", &e)),
            }
        }
        let mut routed = RouteResult::new();
        let mut matches = Vec::with_capacity(self.keys.len());
        let mut rejected_keys = Vec::new();
        for (k, key) in self.keys.iter().enumerate() {
            if let Some(error) = self.unencodable(key) {
                rejected_keys.push(Rejected {
                    index: k,
                    error: error.into(),
                });
                matches.push(None);
                continue;
            }
            match table.route_into(EXCHANGE, key, None, &mut routed) {
                Ok(()) => {
                    let mut hits = routed
                        .queues()
                        .iter()
                        .map(|q| owner.get(q.index()).copied().flatten())
                        .collect::<Option<Vec<usize>>>()
                        .ok_or_else(|| bug("routing", &"reached a queue of no pattern"))?;
                    hits.sort_unstable();
                    matches.push(Some(hits));
                }
                Err(e) if e.reply_code() == PRECONDITION_FAILED => {
                    rejected_keys.push(Rejected {
                        index: k,
                        error: e.to_string(),
                    });
                    matches.push(None);
                }
                Err(e) => return Err(bug("routing", &e)),
            }
        }
        Ok(Report {
            matches,
            rejected_patterns,
            rejected_keys,
        })
    }
}

/// Makes JSON with lone surrogate escapes parseable, keeping track of where they were.
///
/// JSON strings are sequences of UTF-16 code units, so `"\ud800"` is valid JSON (Python's
/// `json`, which the oracle uses, accepts it) but is no Unicode string: it has no UTF-8
/// encoding, so RabbitMQ can never see it and the oracle lists such a pattern or key as
/// rejected. `serde_json` refuses it when parsing into a `String`, which would fail the
/// whole document. So before parsing, this scans the raw text lexically (outside
/// strings only `"` matters; inside, `\` starts an escape) and finds every `\uXXXX`
/// escape that is a surrogate not paired high-then-low. It rewrites each of those six
/// bytes in place as the six-byte escape of a *marker*: a noncharacter from
/// U+FDD0..=U+FDEF that occurs nowhere in the input, neither raw nor escaped. After
/// parsing, a string holds a lone surrogate exactly when it contains the marker, so the
/// mapping is exact and a genuine `"\ufdd0"` in the input is never mistaken for one.
/// Lengths and offsets are unchanged, so `serde_json`'s error positions stay true.
///
/// Returns the text to parse and the marker (`None` if there was nothing to mask).
fn mask_lone_surrogates(json: &[u8]) -> Result<(Cow<'_, [u8]>, Option<char>), String> {
    const MARKERS: std::ops::RangeInclusive<char> = '\u{FDD0}'..='\u{FDEF}';
    let is_high = |u: u16| (0xD800..=0xDBFF).contains(&u);
    let is_low = |u: u16| (0xDC00..=0xDFFF).contains(&u);
    let mut lone = Vec::new(); // byte offsets of the lone surrogates' escapes
    let mut escaped = Vec::new(); // every `\u` code unit seen
    let mut high: Option<usize> = None; // a high surrogate waiting for its low half
    let mut in_string = false;
    let mut i = 0;
    while let Some(&b) = json.get(i) {
        if !in_string {
            in_string = b == b'"';
            i += 1;
            continue;
        }
        if b == b'\\' {
            if let Some(unit) = json.get(i + 1..i + 6).and_then(unicode_escape) {
                escaped.push(unit);
                match high.take() {
                    Some(_) if is_low(unit) => {} // a surrogate pair: valid
                    pending => {
                        lone.extend(pending);
                        if is_high(unit) {
                            high = Some(i);
                        } else if is_low(unit) {
                            lone.push(i);
                        }
                    }
                }
                i += 6;
                continue;
            }
            // Any other escape is two bytes; serde_json reports malformed ones.
            lone.extend(high.take());
            i += 2;
            continue;
        }
        lone.extend(high.take());
        in_string = b != b'"';
        i += 1;
    }
    lone.extend(high);
    if lone.is_empty() {
        return Ok((Cow::Borrowed(json), None));
    }
    let marker = MARKERS
        .into_iter()
        .find(|&c| {
            let mut buf = [0; 4];
            let raw = c.encode_utf8(&mut buf).as_bytes();
            !escaped.iter().any(|&u| u32::from(u) == u32::from(c))
                && !json.windows(raw.len()).any(|w| w == raw)
        })
        .ok_or("unsupported input: lone surrogates together with all of U+FDD0..U+FDEF")?;
    let escape = format!("\\u{:04X}", u32::from(marker));
    let mut text = json.to_vec();
    for at in lone {
        if let Some(slot) = text.get_mut(at..at + 6) {
            slot.copy_from_slice(escape.as_bytes());
        }
    }
    Ok((Cow::Owned(text), Some(marker)))
}

/// The code unit of a `uXXXX` escape body (the five bytes after the backslash).
fn unicode_escape(body: &[u8]) -> Option<u16> {
    let hex = body.strip_prefix(b"u")?;
    let hex = std::str::from_utf8(hex).ok()?;
    if hex.len() != 4 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    u16::from_str_radix(hex, 16).ok()
}

/// `trackswitch serve`.
#[cfg(feature = "server")]
#[path = "trackswitch/perf.rs"]
mod perf;

#[cfg(feature = "server")]
mod serve {
    use trackswitch::amqp::{ConfigError, Server, ServerConfig, User, UserPermissions};
    #[cfg(feature = "tls")]
    use trackswitch::amqp::{TlsConfig, TlsError, TlsVerify};
    use trackswitch::broker::{Broker, Permissions};

    use super::Failure;

    pub(super) const AFTER_HELP: &str = "\
Logs one line per connection open and close (RUST_LOG-style level from
TRACKSWITCH_LOG, default info).

Environment: TRACKSWITCH_DEFAULT_USER and TRACKSWITCH_DEFAULT_PASS (or RabbitMQ's
RABBITMQ_DEFAULT_USER and RABBITMQ_DEFAULT_PASS) set the default user in place of
guest/guest. guest may log in from loopback only, whoever defines it.

TLS: --tls-listen localhost:5671 --tls-cert server.pem --tls-key server.key serves
amqps beside the plain listener. On TLS connections the server offers EXTERNAL besides
PLAIN and AMQPLAIN: a client with a certificate verified against --tls-ca logs in as
the configured user named by the certificate's subject common name, without a
password (RabbitMQ's rabbitmq_auth_mechanism_ssl with ssl_cert_login_from =
common_name).

Permissions: the default user (guest, --user, the environment's) gets all
permissions on / (configure, write, read: \".*\"), as in RabbitMQ. When a config file
lists users, they (and --user users beside them) get all permissions on every vhost,
unless the file has a \"permissions\" key: [{\"user\", \"vhost\", \"configure\",
\"write\", \"read\"}], RabbitMQ's definitions format; then every user gets exactly
what it lists, and the default user, unless listed, all on /. Definitions that bring
users replace the default guest.

Durability: --data-dir (default ./trackswitch-data) keeps what RabbitMQ keeps across
restarts and kill -9: vhosts, users, permissions, durable exchanges and queues,
bindings between durable ends, and persistent messages (delivery_mode 2) in durable
queues. A persistent message routed to a durable queue is confirmed (and tx.commit
answered) only once it is synced to disk. Free disk under limits.disk_free_limit
(50 MB) blocks publishers. --in-memory keeps nothing.

Management: --management ADDR (default 127.0.0.1:15672, RabbitMQ's port) serves
RabbitMQ's management HTTP API (/api/..., for rabbitmqadmin and API clients), a web
UI at / and Prometheus metrics at /metrics and /metrics/per-object; HTTP basic auth
with the server's users (tagged administrator, management or monitoring; guest from
loopback only). --no-management turns it off.";

    /// `trackswitch serve`'s flags.
    #[derive(clap::Args)]
    pub(super) struct Args {
        /// Address to listen on; every address a name resolves to is bound
        /// (localhost: 127.0.0.1 and ::1)
        #[arg(long, value_name = "ADDR", default_value = "localhost:5672")]
        listen: String,
        /// A user (repeatable; the password is what follows the first ':'). With
        /// --user or a default user from the environment, guest/guest is not created
        #[arg(long = "user", value_name = "NAME:PASSWORD", value_parser = user_flag)]
        users: Vec<User>,
        /// JSON: {"users": [...], "vhosts": [...], "permissions": [...], "limits": {...}}
        /// (default: user guest/guest, from loopback only, all permissions on /)
        #[arg(long = "config", value_name = "FILE")]
        config_file: Option<String>,
        /// RabbitMQ-style definitions to load at start
        #[arg(long, value_name = "FILE")]
        definitions: Option<String>,
        /// Where durable exchanges and queues, bindings, vhosts, users, permissions
        /// and persistent messages are kept across restarts (created on first start;
        /// one server per directory)
        #[arg(
            long,
            value_name = "DIR",
            default_value = "trackswitch-data",
            conflicts_with = "in_memory"
        )]
        data_dir: std::path::PathBuf,
        /// Keep nothing across restarts: no data directory, every queue and message
        /// lives in memory only
        #[arg(long)]
        in_memory: bool,
        /// Where the management HTTP API, web UI and Prometheus metrics listen
        /// (RabbitMQ's management port)
        #[cfg(feature = "management")]
        #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:15672")]
        management: String,
        /// No management listener
        #[cfg(feature = "management")]
        #[arg(long)]
        no_management: bool,
        #[cfg(feature = "tls")]
        #[command(flatten)]
        tls: TlsArgs,
    }

    /// The TLS (amqps) listener's flags.
    #[cfg(feature = "tls")]
    #[derive(clap::Args)]
    #[command(next_help_heading = "TLS (amqps)")]
    pub(super) struct TlsArgs {
        /// Also listen for TLS (amqps) connections here, as --listen does for plain
        /// ones (RabbitMQ's TLS port is 5671); needs --tls-cert and --tls-key
        #[arg(long, value_name = "ADDR", requires_all = ["tls_cert", "tls_key"])]
        tls_listen: Option<String>,
        /// The server's certificate chain (PEM, the server's certificate first)
        #[arg(long, value_name = "FILE", requires = "tls_listen")]
        tls_cert: Option<std::path::PathBuf>,
        /// The server's private key (PEM: PKCS#8, RSA or EC)
        #[arg(long, value_name = "FILE", requires = "tls_listen")]
        tls_key: Option<std::path::PathBuf>,
        /// CA certificates (PEM) that client certificates must chain to; with it,
        /// --tls-verify defaults to verify_peer
        #[arg(long, value_name = "FILE", requires = "tls_listen")]
        tls_ca: Option<std::path::PathBuf>,
        /// Client certificates: none (not asked for), verify_peer (verified if sent),
        /// fail_if_no_peer_cert (required) [default: verify_peer with --tls-ca, else
        /// none]
        #[arg(long, value_name = "MODE", requires = "tls_listen",
              value_parser = ["none", "verify_peer", "fail_if_no_peer_cert"])]
        tls_verify: Option<String>,
    }

    /// Whether a configuration file has a `users` key.
    #[derive(serde::Deserialize)]
    struct ListsUsers {
        users: Option<serde::de::IgnoredAny>,
    }

    pub(super) fn run(args: Args) -> Result<(), Failure> {
        let Args {
            listen,
            mut users,
            config_file,
            definitions,
            data_dir,
            in_memory,
            #[cfg(feature = "management")]
            management,
            #[cfg(feature = "management")]
            no_management,
            #[cfg(feature = "tls")]
            tls,
        } = args;
        #[cfg(feature = "tls")]
        let tls = tls_listener(tls)?;
        let read = |path: &str| {
            std::fs::read_to_string(path)
                .map_err(|e| Failure::input(format!("cannot read {path}: {e}")))
        };
        let (mut config, config_lists_users) = match &config_file {
            Some(path) => {
                let text = read(path)?;
                let config = ServerConfig::from_json(&text)
                    .map_err(|e| Failure::input(format!("{path}: {e}")))?;
                let lists_users =
                    serde_json::from_str::<ListsUsers>(&text).is_ok_and(|v| v.users.is_some());
                (config, lists_users)
            }
            None => (ServerConfig::default(), false),
        };
        users.extend(default_user_from_env());
        // The default users: guest unless the file lists users, or the ones given.
        let implicit_guest = users.is_empty() && !config_lists_users;
        let mut default_users: Vec<String> = users.iter().map(|u| u.name.clone()).collect();
        if implicit_guest {
            default_users.push("guest".into());
        }
        if !users.is_empty() {
            // They replace the default guest, as RabbitMQ's default user does; users a
            // config file lists stay.
            if !config_lists_users {
                config.users.clear();
            }
            config.users.extend(users);
        }
        let filter = std::env::var("TRACKSWITCH_LOG").unwrap_or_else(|_| "info".into());
        let level = filter
            .parse::<tracing::Level>()
            .unwrap_or(tracing::Level::INFO);
        let _ = tracing_subscriber::fmt()
            .with_max_level(level)
            .with_target(false)
            .with_writer(std::io::stderr)
            .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
            .try_init();
        // The broker enforces the configured message size too (not its own default).
        let mut builder = Broker::builder().max_message_size(
            usize::try_from(config.limits.max_message_size).unwrap_or(usize::MAX),
        );
        if !in_memory {
            // Bodies of persistent messages in durable queues stay on disk only once
            // memory is at half the watermark (RabbitMQ's paging ratio, 0.5).
            let watermark = config.limits.memory_high_watermark;
            builder = builder
                .data_dir(&data_dir)
                .disk_free_limit(config.limits.disk_free_limit)
                .page_bodies_above(if watermark == 0 {
                    u64::MAX
                } else {
                    watermark / 2
                });
        }
        let broker = builder
            .open()
            .map_err(|e| Failure::input(format!("cannot open the data directory: {e}")))?;
        match broker.recovery() {
            None => tracing::info!(
                "in memory (--in-memory): nothing is kept across restarts, durable or not"
            ),
            Some(r) => {
                let dir = std::fs::canonicalize(&r.dir).unwrap_or_else(|_| r.dir.clone());
                tracing::info!(
                    data_dir = %dir.display(),
                    queues = r.queues,
                    messages = r.messages,
                    took_ms = r.took.as_millis() as u64,
                    "data directory opened"
                );
                for d in &r.damage {
                    tracing::warn!(data_dir = %dir.display(), "{d}");
                }
            }
        }
        if let Some(path) = &definitions {
            let report = broker
                .import_definitions(&read(path)?)
                .map_err(|e| Failure::input(format!("{path}: {e}")))?;
            for warning in &report.warnings {
                tracing::warn!(file = %path, "{warning}");
            }
            tracing::info!(
                file = %path,
                users = report.users,
                permissions = report.permissions,
                exchanges = report.exchanges,
                queues = report.queues,
                bindings = report.bindings,
                "definitions loaded"
            );
            // Definitions that bring users replace the default guest (RabbitMQ seeds no
            // default user when it loads definitions at boot).
            if implicit_guest && report.users > 0 {
                config.users.clear();
                default_users.clear();
            }
        }
        grant_default_users(&mut config, &default_users, config_lists_users);
        let names: Vec<&str> = config.users.iter().map(|u| u.name.as_str()).collect();
        tracing::info!(users = %names.join(", "), "users");
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()
            .map_err(|e| Failure::internal(format!("cannot start the runtime: {e}")))?;
        runtime.block_on(async move {
            #[allow(unused_mut)] // without TLS nothing is added
            let mut server = Server::bind(&listen_addrs("--listen", &listen)?[..], broker, config)
                .await
                .map_err(|e| {
                    // A configuration the broker cannot take (a permission naming an
                    // unknown user or vhost) is the config file's problem.
                    match e.get_ref().and_then(|e| e.downcast_ref::<ConfigError>()) {
                        Some(c) => Failure::input(match &config_file {
                            Some(path) => format!("{path}: {c}"),
                            None => c.to_string(),
                        }),
                        None => Failure::input(format!("cannot listen on {listen}: {e}")),
                    }
                })?;
            #[cfg(feature = "tls")]
            if let Some((tls_listen, tls)) = tls {
                server
                    .listen_tls(&listen_addrs("--tls-listen", &tls_listen)?[..], tls)
                    .await
                    .map_err(|e| Failure::input(format!("cannot listen on {tls_listen}: {e}")))?;
            }
            #[cfg(feature = "management")]
            if !no_management {
                let listener = trackswitch::management::Management::bind(&management[..], &server)
                    .await
                    .map_err(|e| {
                        Failure::input(format!("cannot listen on {management} (--management): {e}"))
                    })?;
                tokio::spawn(async move {
                    if let Err(e) = listener.run().await {
                        tracing::error!(error = %e, "management listener failed");
                    }
                });
            }
            let stop = server.shutdown_handle();
            tokio::spawn(async move {
                let signal = stop_signal().await;
                tracing::info!(signal, "closing connections");
                stop.shutdown();
            });
            server
                .run()
                .await
                .map_err(|e| Failure::internal(format!("server failed: {e}")))
        })
    }

    /// Waits for SIGINT (Ctrl-C) or SIGTERM (what supervisors, systemd and container
    /// runtimes send) and names it. Without signal handlers (they could not be
    /// installed) it never returns: the server then runs until killed.
    async fn stop_signal() -> &'static str {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{SignalKind, signal};
            match (
                signal(SignalKind::terminate()),
                signal(SignalKind::interrupt()),
            ) {
                (Ok(mut term), Ok(mut int)) => tokio::select! {
                    _ = term.recv() => "SIGTERM",
                    _ = int.recv() => "SIGINT",
                },
                (Err(e), _) | (_, Err(e)) => {
                    tracing::warn!(error = %e, "cannot handle SIGTERM/SIGINT");
                    std::future::pending().await
                }
            }
        }
        #[cfg(not(unix))]
        {
            match tokio::signal::ctrl_c().await {
                Ok(()) => "Ctrl-C",
                Err(e) => {
                    tracing::warn!(error = %e, "cannot handle Ctrl-C");
                    std::future::pending().await
                }
            }
        }
    }

    /// The default users' permissions: all on `/`, unless `permissions` names them.
    /// Without a `permissions` key and with users listed in the file, every user gets
    /// every vhost (the configuration's `None`), the default ones too.
    fn grant_default_users(
        config: &mut ServerConfig,
        default_users: &[String],
        config_lists_users: bool,
    ) {
        if config.permissions.is_none() && config_lists_users {
            return;
        }
        let list = config.permissions.get_or_insert_with(Vec::new);
        for name in default_users {
            if !list.iter().any(|p| p.user == *name) {
                list.push(UserPermissions {
                    user: name.clone(),
                    vhost: "/".into(),
                    permissions: Permissions::all(),
                });
            }
        }
    }

    /// The `--tls-listen` address and the TLS configuration its flags name, loaded
    /// (so a bad file is reported before anything starts); `None` without
    /// `--tls-listen`. clap has checked that `--tls-cert` and `--tls-key` come with it.
    #[cfg(feature = "tls")]
    fn tls_listener(args: TlsArgs) -> Result<Option<(String, TlsConfig)>, Failure> {
        let TlsArgs {
            tls_listen,
            tls_cert,
            tls_key,
            tls_ca,
            tls_verify,
        } = args;
        let (Some(addr), Some(cert), Some(key)) = (tls_listen, tls_cert, tls_key) else {
            return Ok(None);
        };
        let mut builder = TlsConfig::builder(cert, key);
        if let Some(ca) = tls_ca {
            builder = builder.client_ca(ca);
        }
        if let Some(mode) = tls_verify {
            let mode: TlsVerify = mode
                .parse()
                .map_err(|e: TlsError| Failure::input(e.to_string()))?;
            builder = builder.verify(mode);
        }
        let tls = builder.build().map_err(|e| Failure::input(e.to_string()))?;
        Ok(Some((addr, tls)))
    }

    /// `--user NAME:PASSWORD`: the password is everything after the first `:`.
    fn user_flag(value: &str) -> Result<User, String> {
        match value.split_once(':') {
            Some((name, password)) if !name.is_empty() => Ok(User::new(name, password)),
            _ => Err(format!("expected NAME:PASSWORD, got {value:?}")),
        }
    }

    /// `TRACKSWITCH_DEFAULT_USER` / `TRACKSWITCH_DEFAULT_PASS`, else RabbitMQ's
    /// `RABBITMQ_DEFAULT_USER` / `RABBITMQ_DEFAULT_PASS` (either of a pair set makes a
    /// default user; the other defaults to `guest`, as in RabbitMQ).
    fn default_user_from_env() -> Option<User> {
        let var = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
        for (user, pass) in [
            ("TRACKSWITCH_DEFAULT_USER", "TRACKSWITCH_DEFAULT_PASS"),
            ("RABBITMQ_DEFAULT_USER", "RABBITMQ_DEFAULT_PASS"),
        ] {
            let (name, password) = (var(user), var(pass));
            if name.is_some() || password.is_some() {
                let name = name.unwrap_or_else(|| "guest".into());
                let password = password.unwrap_or_else(|| "guest".into());
                return Some(User::new(&name, &password));
            }
        }
        None
    }

    /// The addresses `--listen` names: `localhost:PORT` is 127.0.0.1 and ::1 whatever
    /// the resolver says (clients may try either); other names resolve as usual.
    fn listen_addrs(flag: &str, listen: &str) -> Result<Vec<std::net::SocketAddr>, Failure> {
        use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, ToSocketAddrs};
        if let Some(port) = listen.strip_prefix("localhost:") {
            let port: u16 = port
                .parse()
                .map_err(|_| Failure::input(format!("{flag}: bad port in {listen:?}")))?;
            return Ok(vec![
                SocketAddr::from((Ipv4Addr::LOCALHOST, port)),
                SocketAddr::from((Ipv6Addr::LOCALHOST, port)),
            ]);
        }
        listen
            .to_socket_addrs()
            .map(Iterator::collect)
            .map_err(|e| Failure::input(format!("cannot resolve {listen}: {e}")))
    }
}
