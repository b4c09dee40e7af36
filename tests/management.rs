//! The management listener (`trackswitch::management`) over real HTTP: RabbitMQ
//! 3.10.8's answers (status codes, bodies, fields: the facts in
//! `docs/rabbitmq-3.10.8-management-facts.md`), authentication, closing a connection
//! of a real client, Prometheus names, and bad input (a property test: 4xx, never a
//! 5xx or a dead server; size-limited bodies).
//!
//! Three tests drive it with outside tools, each behind its own switch (`.ci/run`
//! installs the tools and turns them on; on, a missing tool fails the test):
//! - `TRACKSWITCH_TEST_RABBITMQADMIN=1`: RabbitMQ 3.10.8's `rabbitmqadmin`
//!   (`tests/python/management_admin.py`: declare, list, publish, get, export,
//!   import, delete, list and close connections);
//! - `TRACKSWITCH_TEST_BROWSER=1`: the web UI in headless chromium with selenium
//!   (`tests/python/management_ui.py`; the screenshot lands in `target/tmp`);
//! - `TRACKSWITCH_TEST_RABBITMQ=1`: definitions exported here import into a real
//!   RabbitMQ 3.10.8 node started from `../shared/tools/rabbit`
//!   (`tests/python/definitions_to_rabbitmq.py`).
//!
//! The HTTP client here is a few lines over `TcpStream` (one request per connection):
//! the test needs to send exactly the bytes it means, malformed ones included.

use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::Command;
use std::time::Duration;

use proptest::prelude::*;
use serde_json::{Value, json};
use trackswitch::amqp::{Server, ServerConfig, ShutdownHandle, User};
use trackswitch::broker::Broker;
use trackswitch::management::{MAX_BODY, Management};

struct Running {
    amqp: SocketAddr,
    http: SocketAddr,
    broker: Broker,
    stop: ShutdownHandle,
    rt: tokio::runtime::Runtime,
}

impl Drop for Running {
    fn drop(&mut self) {
        self.stop.shutdown();
    }
}

fn start() -> Running {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let (amqp, http, broker, stop) = rt.block_on(async {
        let mut config = ServerConfig::default();
        config.users.push(User::new("plain", "pw"));
        let server = Server::bind("127.0.0.1:0", Broker::new(), config)
            .await
            .unwrap();
        let management = Management::bind("127.0.0.1:0", &server).await.unwrap();
        let http = management.local_addr();
        let amqp = server.local_addr().unwrap();
        let broker = server.broker().clone();
        let stop = server.shutdown_handle();
        tokio::spawn(management.run());
        tokio::spawn(server.run());
        (amqp, http, broker, stop)
    });
    // A configured user gets `administrator`; `plain` is made a user without tags.
    let mut plain = broker.user("plain").unwrap();
    plain.tags.clear();
    broker.add_user(plain);
    Running {
        amqp,
        http,
        broker,
        stop,
        rt,
    }
}

struct Reply {
    status: u16,
    headers: HashMap<String, String>,
    body: Vec<u8>,
}

impl Reply {
    fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(&self.body)))
    }

    fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

fn base64(data: &[u8]) -> String {
    const A: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in data.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(char::from(A[((n >> (18 - 6 * i)) & 63) as usize]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

const GUEST: Option<(&str, &str)> = Some(("guest", "guest"));

/// One request on its own connection (`Connection: close`), the whole answer read.
fn request(
    addr: SocketAddr,
    method: &str,
    path: &str,
    auth: Option<(&str, &str)>,
    headers: &[(&str, &str)],
    body: &[u8],
) -> Reply {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    let mut head = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    if let Some((u, p)) = auth {
        head.push_str(&format!(
            "Authorization: Basic {}\r\n",
            base64(format!("{u}:{p}").as_bytes())
        ));
    }
    for (k, v) in headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str("\r\n");
    s.write_all(head.as_bytes()).unwrap();
    // The server may answer (and close) before reading a refused body whole.
    let _ = s.write_all(body);
    let mut raw = Vec::new();
    let _ = s.read_to_end(&mut raw);
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .unwrap_or_else(|| panic!("no HTTP answer: {:?}", String::from_utf8_lossy(&raw)));
    let head = String::from_utf8_lossy(&raw[..split]).into_owned();
    let mut lines = head.lines();
    let status = lines
        .next()
        .unwrap()
        .split(' ')
        .nth(1)
        .unwrap()
        .parse()
        .unwrap();
    let headers: HashMap<String, String> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_lowercase(), v.trim().to_owned()))
        .collect();
    let mut body = raw[split + 4..].to_vec();
    if headers
        .get("transfer-encoding")
        .is_some_and(|t| t == "chunked")
    {
        body = dechunk(&body);
    }
    Reply {
        status,
        headers,
        body,
    }
}

fn dechunk(mut data: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    loop {
        let Some(end) = data.windows(2).position(|w| w == b"\r\n") else {
            return out;
        };
        let size =
            usize::from_str_radix(std::str::from_utf8(&data[..end]).unwrap().trim(), 16).unwrap();
        if size == 0 {
            return out;
        }
        out.extend_from_slice(&data[end + 2..end + 2 + size]);
        data = &data[end + 4 + size..];
    }
}

fn get(r: &Running, path: &str) -> Reply {
    request(r.http, "GET", path, GUEST, &[], b"")
}

fn send(r: &Running, method: &str, path: &str, body: Value) -> Reply {
    request(
        r.http,
        method,
        path,
        GUEST,
        &[("Content-Type", "application/json")],
        body.to_string().as_bytes(),
    )
}

#[test]
fn authentication_follows_rabbitmqs_rules() {
    let r = start();
    // No credentials: an empty 401 with the challenge.
    let a = request(r.http, "GET", "/api/overview", None, &[], b"");
    assert_eq!(a.status, 401);
    assert!(a.body.is_empty());
    assert_eq!(
        a.headers["www-authenticate"],
        "Basic realm=\"RabbitMQ Management\""
    );
    // Wrong password or user: RabbitMQ's JSON and the challenge.
    for creds in [("guest", "wrong"), ("nobody", "x")] {
        let a = request(r.http, "GET", "/api/overview", Some(creds), &[], b"");
        assert_eq!(a.status, 401);
        assert_eq!(
            a.json(),
            json!({"error": "not_authorized", "reason": "Login failed"})
        );
        assert!(a.headers.contains_key("www-authenticate"));
    }
    // A cookie alone is nobody.
    let a = request(
        r.http,
        "GET",
        "/api/whoami",
        None,
        &[("Cookie", "m=2258:Z3Vlc3Q6Z3Vlc3Q%3D")],
        b"",
    );
    assert_eq!(a.status, 401);
    // A user without a management tag: 401, no challenge.
    let a = request(
        r.http,
        "GET",
        "/api/whoami",
        Some(("plain", "pw")),
        &[],
        b"",
    );
    assert_eq!(a.status, 401);
    assert_eq!(
        a.json(),
        json!({"error": "not_authorised", "reason": "Not management user"})
    );
    assert!(!a.headers.contains_key("www-authenticate"));
    // The configured user is an administrator, as RabbitMQ's default user.
    let a = get(&r, "/api/whoami");
    assert_eq!(a.status, 200);
    assert_eq!(
        a.json(),
        json!({"name": "guest", "tags": ["administrator"]})
    );
    assert_eq!(a.headers["content-type"], "application/json");
    // No CORS: no Access-Control headers, even for a foreign Origin.
    let a = request(
        r.http,
        "GET",
        "/api/whoami",
        GUEST,
        &[("Origin", "http://example.com")],
        b"",
    );
    assert!(
        a.headers.keys().all(|k| !k.starts_with("access-control")),
        "{:?}",
        a.headers
    );
    // A monitoring user may read but not administer.
    assert_eq!(
        send(
            &r,
            "PUT",
            "/api/users/mon",
            json!({"password": "m", "tags": "monitoring"})
        )
        .status,
        201
    );
    assert_eq!(
        request(r.http, "GET", "/api/queues", Some(("mon", "m")), &[], b"").status,
        200
    );
    let a = request(r.http, "GET", "/api/users", Some(("mon", "m")), &[], b"");
    assert_eq!(a.status, 401);
    assert_eq!(a.json()["reason"], "Not administrator user");
}

#[test]
fn queues_exchanges_bindings_publish_and_get_answer_as_rabbitmq() {
    let r = start();
    // PUT: 201 new, 204 again, 400 with RabbitMQ's text on a conflict.
    let q = "/api/queues/%2F/orders";
    assert_eq!(
        send(
            &r,
            "PUT",
            q,
            json!({"durable": false, "arguments": {"x-max-length": 10}})
        )
        .status,
        201
    );
    assert_eq!(
        send(
            &r,
            "PUT",
            q,
            json!({"durable": "false", "arguments": {"x-max-length": 10}})
        )
        .status,
        204
    );
    let a = send(
        &r,
        "PUT",
        q,
        json!({"durable": true, "arguments": {"x-max-length": 10}}),
    );
    assert_eq!(a.status, 400);
    assert_eq!(
        a.json(),
        json!({"error": "bad_request", "reason": "inequivalent arg 'durable' for queue 'orders' in vhost '/': received 'true' but current is 'false'"})
    );
    assert_eq!(
        send(&r, "PUT", "/api/queues/nope/q", json!({})).json(),
        json!({"error": "not_found", "reason": "vhost_not_found"})
    );
    let a = get(&r, q).json();
    assert_eq!(
        (a["name"].clone(), a["vhost"].clone(), a["durable"].clone()),
        (json!("orders"), json!("/"), json!(false))
    );
    assert_eq!(a["arguments"], json!({"x-max-length": 10}));
    assert_eq!(
        (a["messages"].clone(), a["type"].clone(), a["state"].clone()),
        (json!(0), json!("classic"), json!("running"))
    );

    // Exchanges: amq.* and the default are refused; an unknown type is 400.
    let x = "/api/exchanges/%2F/orders.x";
    assert_eq!(
        send(&r, "PUT", x, json!({"type": "topic", "durable": true})).status,
        201
    );
    assert_eq!(
        send(
            &r,
            "PUT",
            "/api/exchanges/%2F/amq.mine",
            json!({"type": "topic"})
        )
        .json()["reason"],
        "Access refused."
    );
    assert_eq!(
        send(
            &r,
            "PUT",
            "/api/exchanges/%2F/bad",
            json!({"type": "bogus"})
        )
        .json()["reason"],
        "invalid exchange type 'bogus'"
    );
    assert_eq!(get(&r, "/api/exchanges/%2F/amq.default").json()["name"], "");
    assert_eq!(get(&r, x).json()["type"], "topic");

    // Bindings: 201 with Location, listed with properties_key, deleted by it.
    let a = send(
        &r,
        "POST",
        "/api/bindings/%2F/e/orders.x/q/orders",
        json!({"routing_key": "eu.*"}),
    );
    assert_eq!(a.status, 201);
    assert_eq!(a.headers["location"], "orders/eu.%2A");
    let listed = get(&r, "/api/bindings/%2F/e/orders.x/q/orders").json();
    assert_eq!(
        listed,
        json!([{"source": "orders.x", "vhost": "/", "destination": "orders", "destination_type": "queue", "routing_key": "eu.*", "arguments": {}, "properties_key": "eu.%2A"}])
    );
    let qb = get(&r, "/api/queues/%2F/orders/bindings").json();
    assert_eq!(
        qb[0]["source"], "",
        "the default exchange's binding first: {qb}"
    );
    assert_eq!(
        get(&r, "/api/exchanges/%2F/orders.x/bindings/source")
            .json()
            .as_array()
            .unwrap()
            .len(),
        1
    );
    assert_eq!(
        send(
            &r,
            "DELETE",
            "/api/exchanges/%2F/orders.x?if-unused=true",
            json!(null)
        )
        .json()["reason"],
        "exchange 'orders.x' in vhost '/' in use"
    );

    // Publish: routed or not; missing fields and bad encodings as RabbitMQ says them.
    let p = "/api/exchanges/%2F/orders.x/publish";
    let msg = json!({"properties": {"delivery_mode": 2, "headers": {"a": 1}}, "routing_key": "eu.fr", "payload": "hello", "payload_encoding": "string"});
    assert_eq!(send(&r, "POST", p, msg).json(), json!({"routed": true}));
    let msg = json!({"properties": {}, "routing_key": "us.ny", "payload": "x", "payload_encoding": "string"});
    assert_eq!(send(&r, "POST", p, msg).json(), json!({"routed": false}));
    let raw = json!({"properties": {}, "routing_key": "orders", "payload": "AAEC/w==", "payload_encoding": "base64"});
    assert_eq!(
        send(&r, "POST", "/api/exchanges/%2F/amq.default/publish", raw).json(),
        json!({"routed": true})
    );
    assert_eq!(
        send(
            &r,
            "POST",
            p,
            json!({"routing_key": "a", "payload": "x", "payload_encoding": "string"})
        )
        .json()["reason"],
        "[{key_missing,properties}]"
    );
    assert_eq!(
        send(
            &r,
            "POST",
            p,
            json!({"properties": {}, "routing_key": "a", "payload": "x", "payload_encoding": "hex"})
        )
        .json()["reason"],
        json!(["unsupported_encoding", "hex"])
    );
    assert_eq!(send(&r, "POST", "/api/exchanges/%2F/nope/publish", json!({"properties": {}, "routing_key": "a", "payload": "x", "payload_encoding": "string"})).json()["reason"], "404 NOT_FOUND - no exchange 'nope' in vhost '/'");

    // Get: requeued messages come back redelivered; binary payloads as base64.
    let g = "/api/queues/%2F/orders/get";
    let got = send(
        &r,
        "POST",
        g,
        json!({"count": "5", "ackmode": "ack_requeue_true", "encoding": "auto"}),
    )
    .json();
    assert_eq!(got.as_array().unwrap().len(), 2, "{got}");
    assert_eq!(
        got[0],
        json!({"payload_bytes": 5, "redelivered": false, "exchange": "orders.x", "routing_key": "eu.fr", "message_count": 1,
               "properties": {"delivery_mode": 2, "headers": {"a": 1}}, "payload": "hello", "payload_encoding": "string"})
    );
    assert_eq!(
        (
            got[1]["payload"].clone(),
            got[1]["payload_encoding"].clone(),
            got[1]["properties"].clone()
        ),
        (json!("AAEC/w=="), json!("base64"), json!([]))
    );
    let got = send(
        &r,
        "POST",
        g,
        json!({"count": 1, "ackmode": "ack_requeue_false", "encoding": "base64", "truncate": 2}),
    )
    .json();
    assert_eq!(
        (got[0]["payload"].clone(), got[0]["redelivered"].clone()),
        (json!("aGU="), json!(true))
    );
    assert_eq!(
        send(&r, "POST", g, json!({"count": 1, "encoding": "auto"})).json()["reason"],
        "[{key_missing,ackmode}]"
    );
    assert_eq!(
        send(
            &r,
            "DELETE",
            "/api/queues/%2F/orders?if-empty=true",
            json!(null)
        )
        .json()["reason"],
        "queue 'orders' in vhost '/' not empty"
    );
    assert_eq!(
        send(&r, "DELETE", "/api/queues/%2F/orders/contents", json!(null)).status,
        204
    );
    assert_eq!(get(&r, q).json()["messages"], 0);

    // Lists: pagination envelope, columns, sort.
    for i in 0..5 {
        assert_eq!(
            send(&r, "PUT", &format!("/api/queues/%2F/page-{i}"), json!({})).status,
            201
        );
    }
    let page = get(
        &r,
        "/api/queues/%2F?page=2&page_size=2&name=page-&sort=name&sort_reverse=true&columns=name",
    )
    .json();
    assert_eq!(
        page,
        json!({"filtered_count": 5, "item_count": 2, "items": [{"name": "page-2"}, {"name": "page-1"}],
               "page": 2, "page_count": 3, "page_size": 2, "total_count": 6})
    );
    assert_eq!(
        get(&r, "/api/queues/%2F?page=9").json()["error"],
        "page_out_of_range"
    );
    assert_eq!(
        get(&r, "/api/queues?columns=name,messages").json()[0]
            .as_object()
            .unwrap()
            .len(),
        2
    );

    // Deletes.
    assert_eq!(
        send(
            &r,
            "DELETE",
            "/api/bindings/%2F/e/orders.x/q/orders/eu.%252A",
            json!(null)
        )
        .status,
        204
    );
    assert_eq!(
        send(
            &r,
            "DELETE",
            "/api/bindings/%2F/e/orders.x/q/orders/eu.%252A",
            json!(null)
        )
        .status,
        404
    );
    assert_eq!(send(&r, "DELETE", x, json!(null)).status, 204);
    assert_eq!(
        send(&r, "DELETE", x, json!(null)).json(),
        json!({"error": "Object Not Found", "reason": "Not Found"})
    );
    assert_eq!(send(&r, "DELETE", q, json!(null)).status, 204);
    assert_eq!(get(&r, q).status, 404);
    assert_eq!(
        get(&r, "/api/nosuch").json(),
        json!({"error": "Object Not Found", "reason": "Not Found"})
    );
    assert_eq!(
        request(r.http, "POST", "/api/overview", GUEST, &[], b"").status,
        405
    );
}

#[test]
fn definitions_users_permissions_and_vhosts() {
    let r = start();
    assert_eq!(
        send(&r, "PUT", "/api/vhosts/shop", json!({"description": "x"})).status,
        201
    );
    assert_eq!(send(&r, "PUT", "/api/vhosts/shop", json!({})).status, 204);
    assert_eq!(
        send(
            &r,
            "PUT",
            "/api/queues/shop/carts",
            json!({"durable": true})
        )
        .status,
        201
    );
    assert_eq!(
        send(&r, "PUT", "/api/users/app", json!({"password": "s3cret"})).json()["reason"],
        "tags_not_present"
    );
    assert_eq!(
        send(
            &r,
            "PUT",
            "/api/users/app",
            json!({"password": "s3cret", "tags": "management"})
        )
        .status,
        201
    );
    assert_eq!(
        send(
            &r,
            "PUT",
            "/api/permissions/shop/app",
            json!({"configure": ".*"})
        )
        .json()["reason"],
        "[{key_missing,write},{key_missing,read}]"
    );
    assert_eq!(
        send(
            &r,
            "PUT",
            "/api/permissions/shop/app",
            json!({"configure": "", "write": ".*", "read": ".*"})
        )
        .status,
        201
    );
    assert_eq!(
        send(
            &r,
            "PUT",
            "/api/permissions/nope/app",
            json!({"configure": "", "write": "", "read": ""})
        )
        .json()["reason"],
        "vhost_or_user_not_found"
    );
    // The new user logs in to the API and sees only its vhost.
    let a = request(
        r.http,
        "GET",
        "/api/vhosts",
        Some(("app", "s3cret")),
        &[],
        b"",
    );
    assert_eq!(
        a.json()
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v["name"].clone())
            .collect::<Vec<_>>(),
        [json!("shop")]
    );
    // Its permissions apply: configure "" refuses a declare.
    let a = request(
        r.http,
        "PUT",
        "/api/queues/shop/mine",
        Some(("app", "s3cret")),
        &[],
        b"{}",
    );
    assert_eq!(a.status, 401);
    // Export, then import into a fresh server: the topology and the user come along.
    let defs = get(&r, "/api/definitions").json();
    assert!(
        defs["queues"]
            .as_array()
            .unwrap()
            .iter()
            .any(|q| q["name"] == "carts")
    );
    let per_vhost = get(&r, "/api/definitions/shop").json();
    assert_eq!(
        per_vhost["queues"][0],
        json!({"name": "carts", "durable": true, "auto_delete": false, "arguments": {}})
            .as_object()
            .map(|_| per_vhost["queues"][0].clone())
            .unwrap()
    );
    assert!(per_vhost["queues"][0].get("vhost").is_none());
    let other = start();
    let a = request(
        other.http,
        "POST",
        "/api/definitions",
        GUEST,
        &[],
        defs.to_string().as_bytes(),
    );
    assert_eq!(a.status, 204, "{}", a.text());
    assert_eq!(get(&other, "/api/queues/shop/carts").status, 200);
    assert_eq!(
        request(
            other.http,
            "GET",
            "/api/whoami",
            Some(("app", "s3cret")),
            &[],
            b""
        )
        .status,
        200
    );
    assert_eq!(
        request(
            other.http,
            "POST",
            "/api/definitions",
            GUEST,
            &[],
            b"{not json"
        )
        .json()["reason"],
        "failed_to_parse_json"
    );
    // Deletes.
    assert_eq!(
        send(&r, "DELETE", "/api/permissions/shop/app", json!(null)).status,
        204
    );
    assert_eq!(
        send(&r, "DELETE", "/api/users/app", json!(null)).status,
        204
    );
    assert_eq!(
        send(&r, "DELETE", "/api/vhosts/shop", json!(null)).status,
        204
    );
    assert_eq!(get(&r, "/api/vhosts/shop").status, 404);
    // Health.
    assert_eq!(
        get(&r, "/api/health/checks/alarms").json(),
        json!({"status": "ok"})
    );
    assert_eq!(
        get(&r, "/api/health/checks/local-alarms").json(),
        json!({"status": "ok"})
    );
    assert_eq!(
        get(&r, "/api/aliveness-test/%2F").json(),
        json!({"status": "ok"})
    );
}

#[test]
fn connections_channels_consumers_and_closing_a_real_client() {
    let r = start();
    let amqp = r.amqp;
    let (conn, _ch, _consumer) = r.rt.block_on(async move {
        let props = lapin::ConnectionProperties::default().with_connection_name("shop-api".into());
        let conn = lapin::Connection::connect(&format!("amqp://guest:guest@{amqp}/%2f"), props)
            .await
            .unwrap();
        let ch = conn.create_channel().await.unwrap();
        ch.queue_declare(
            "work".into(),
            lapin::options::QueueDeclareOptions::default(),
            Default::default(),
        )
        .await
        .unwrap();
        // Kept: a dropped lapin consumer is cancelled.
        let consumer = ch
            .basic_consume(
                "work".into(),
                "worker-1".into(),
                lapin::options::BasicConsumeOptions::default(),
                Default::default(),
            )
            .await
            .unwrap();
        (conn, ch, consumer)
    });
    let conns = get(&r, "/api/connections").json();
    let c = &conns[0];
    assert_eq!(c["user"], "guest");
    assert_eq!(c["protocol"], "AMQP 0-9-1");
    assert_eq!(c["client_properties"]["connection_name"], "shop-api");
    assert_eq!(c["user_provided_name"], "shop-api");
    let name = c["name"].as_str().unwrap().to_owned();
    assert!(name.ends_with(&format!(" -> {amqp}")), "{name}");
    let channels = get(&r, "/api/channels").json();
    assert_eq!(channels[0]["name"], format!("{name} (1)"));
    assert_eq!(channels[0]["connection_details"]["name"], name);
    assert_eq!(channels[0]["consumer_count"], 1, "{channels}");
    let consumers = get(&r, "/api/consumers/%2F").json();
    assert_eq!(consumers[0]["consumer_tag"], "worker-1");
    assert_eq!(consumers[0]["queue"], json!({"name": "work", "vhost": "/"}));
    assert_eq!(
        get(&r, &format!("/api/connections/{}/channels", encode(&name)))
            .json()
            .as_array()
            .unwrap()
            .len(),
        1
    );
    let overview = get(&r, "/api/overview").json();
    assert_eq!(overview["object_totals"]["connections"], 1);
    assert_eq!(overview["object_totals"]["consumers"], 1);
    assert_eq!(overview["rabbitmq_version"], "3.10.8");
    // Prometheus names, aggregated and per object.
    let m = request(r.http, "GET", "/metrics", None, &[], b"");
    assert_eq!(m.headers["content-type"], "text/plain; version=0.0.4");
    for line in [
        "rabbitmq_connections 1",
        "rabbitmq_channels 1",
        "rabbitmq_consumers 1",
        "rabbitmq_queue_consumers 1",
        "# TYPE rabbitmq_global_messages_received_total counter",
    ] {
        assert!(
            m.text().lines().any(|l| l == line),
            "{line} in\n{}",
            m.text()
        );
    }
    let m = request(r.http, "GET", "/metrics/per-object", None, &[], b"").text();
    assert!(
        m.contains("rabbitmq_queue_consumers{vhost=\"/\",queue=\"work\"} 1"),
        "{m}"
    );
    // Close it: the client hears 320 with the reason.
    let a = request(
        r.http,
        "DELETE",
        &format!("/api/connections/{}", encode(&name)),
        GUEST,
        &[("X-Reason", "maintenance")],
        b"",
    );
    assert_eq!(a.status, 204);
    let connected = r.rt.block_on(async move {
        for _ in 0..100 {
            if !conn.status().connected() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        conn.status().connected()
    });
    assert!(!connected, "the client was closed");
    assert_eq!(get(&r, "/api/connections").json(), json!([]));
    drop(r.broker.clone());
}

/// Percent-encodes a path segment.
fn encode(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
                char::from(b).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

#[test]
fn bodies_over_the_limit_are_refused_and_the_server_carries_on() {
    let r = start();
    let big = vec![b' '; MAX_BODY + 1];
    let a = request(r.http, "PUT", "/api/queues/%2F/big", GUEST, &[], &big);
    assert_eq!(a.status, 400);
    assert_eq!(a.json()["reason"], "Exceeded HTTP request body size limit");
    let a = request(r.http, "POST", "/api/definitions", GUEST, &[], &big);
    assert_eq!(a.status, 400);
    assert_eq!(get(&r, "/api/queues/%2F/big").status, 404);
    assert_eq!(get(&r, "/api/whoami").status, 200);
}

/// Path segments a client may send: names, odd encodings, huge ones.
fn segment() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("%2F".to_owned()),
        Just("%2f".to_owned()),
        Just("%".to_owned()),
        Just("%ZZ".to_owned()),
        Just("%00".to_owned()),
        Just("%FF%FE".to_owned()),
        Just("amq.default".to_owned()),
        Just("amq.topic".to_owned()),
        Just("~".to_owned()),
        Just("q".to_owned()),
        Just("e".to_owned()),
        Just("..".to_owned()),
        Just("%E2%82%AC".to_owned()),
        "[a-z0-9.~%*#-]{0,12}",
        Just("x".repeat(3000)),
    ]
}

const ROOTS: [&str; 16] = [
    "/api/queues",
    "/api/exchanges",
    "/api/bindings",
    "/api/vhosts",
    "/api/users",
    "/api/permissions",
    "/api/connections",
    "/api/channels",
    "/api/consumers",
    "/api/definitions",
    "/api/overview",
    "/api/aliveness-test",
    "/api/health/checks/alarms",
    "/metrics",
    "/",
    "/api/whoami",
];

const TAILS: [&str; 7] = [
    "",
    "/get",
    "/publish",
    "/contents",
    "/bindings",
    "/bindings/source",
    "/e/x/q/y",
];

/// Bodies: malformed JSON, wrong types, unknown fields, deep nesting.
fn body() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        Just(Vec::new()),
        Just(b"{".to_vec()),
        Just(b"null".to_vec()),
        Just(b"[1,2]".to_vec()),
        Just(b"{\"durable\": \"maybe\"}".to_vec()),
        Just(b"{\"arguments\": {\"x-max-length\": \"ten\"}, \"bogus\": 1}".to_vec()),
        Just(b"{\"count\": -1, \"ackmode\": \"x\", \"encoding\": \"auto\"}".to_vec()),
        Just(b"{\"count\": 99999999999999999999, \"ackmode\": \"ack_requeue_true\", \"encoding\": \"auto\", \"truncate\": -5}".to_vec()),
        Just(b"{\"properties\": {\"delivery_mode\": [], \"headers\": {\"a\": {\"b\": [1, null, 1.5]}}}, \"routing_key\": 1, \"payload\": 2, \"payload_encoding\": \"base64\"}".to_vec()),
        Just(b"{\"users\": [{\"name\": 1}], \"queues\": \"x\"}".to_vec()),
        Just(b"{\"tags\": 5, \"password_hash\": \"@@\"}".to_vec()),
        Just(b"{\"configure\": \"(\", \"write\": \"[\", \"read\": \"*\"}".to_vec()),
        Just(format!("{}1{}", "[".repeat(200), "]".repeat(200)).into_bytes()),
        Just(format!("{{\"arguments\": {}1{}}}", "{\"a\":".repeat(100), "}".repeat(100)).into_bytes()),
        proptest::collection::vec(any::<u8>(), 0..64),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 600, failure_persistence: None, .. ProptestConfig::default() })]

    /// Whatever a client sends (method, path, encoding, query, body), the answer is a
    /// success or a 4xx (503 only from a health check with an alarm, which this test
    /// never raises), and the server answers the next request.
    #[test]
    fn bad_requests_get_4xx_answers_never_5xx(
        method in prop_oneof![Just("GET"), Just("PUT"), Just("POST"), Just("DELETE"), Just("PATCH")],
        root in 0..ROOTS.len(),
        segments in proptest::collection::vec(segment(), 0..4),
        tail in 0..TAILS.len(),
        query in prop_oneof![Just(""), Just("?page=0"), Just("?page=1&page_size=9999"), Just("?sort=a.b.c&columns=,,,"), Just("?page=1&name=(&use_regex=true"), Just("?if-empty=true&if-unused=maybe"), Just("?%ZZ=%")],
        body in body(),
    ) {
        thread_local! { static SERVER: Running = start(); }
        SERVER.with(|r| {
            let mut path = ROOTS[root].to_owned();
            for s in &segments {
                path.push('/');
                path.push_str(s);
            }
            path.push_str(TAILS[tail]);
            path.push_str(query);
            let a = request(r.http, method, &path, GUEST, &[], &body);
            prop_assert!(a.status < 500, "{method} {path} {:?} -> {} {}", String::from_utf8_lossy(&body), a.status, a.text());
            prop_assert_eq!(get(r, "/api/whoami").status, 200);
            Ok(())
        })?;
    }
}

// ---- outside tools, each behind its switch ----

fn switch(name: &str, test: &str) -> bool {
    let on = std::env::var(name).is_ok_and(|v| v == "1");
    if !on {
        eprintln!("{test}: not run: set {name}=1 (see the file's docs for what it needs)");
    }
    on
}

fn python() -> String {
    std::env::var("PYTHON").unwrap_or_else(|_| "python3".into())
}

/// Runs a script of `tests/python` to completion (bounded by the script's own
/// timeouts); panics with its output unless it exits 0.
fn run_script(script: &str, args: &[String]) -> String {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/python")
        .join(script);
    let out = Command::new(python())
        .arg(&path)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("cannot run {script}: {e}"));
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.status.success(),
        "{script} failed ({}):\n{text}",
        out.status
    );
    text
}

#[test]
fn rabbitmqadmin_works_against_trackswitch() {
    if !switch(
        "TRACKSWITCH_TEST_RABBITMQADMIN",
        "rabbitmqadmin_works_against_trackswitch",
    ) {
        return;
    }
    let r = start();
    let out = run_script(
        "management_admin.py",
        &[
            "--host".into(),
            "127.0.0.1".into(),
            "--port".into(),
            r.http.port().to_string(),
            "--amqp-url".into(),
            format!("amqp://guest:guest@{}/", r.amqp),
        ],
    );
    eprintln!("{out}");
    assert!(out.contains(" passed, 0 failed"), "{out}");
}

#[test]
fn web_ui_works_in_a_headless_browser() {
    if !switch(
        "TRACKSWITCH_TEST_BROWSER",
        "web_ui_works_in_a_headless_browser",
    ) {
        return;
    }
    let r = start();
    let shot = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("management-queues.png");
    let out = run_script(
        "management_ui.py",
        &[
            "--url".into(),
            format!("http://{}/", r.http),
            "--amqp-url".into(),
            format!("amqp://guest:guest@{}/", r.amqp),
            "--screenshot".into(),
            shot.display().to_string(),
        ],
    );
    eprintln!("{out}");
    assert!(out.contains(" passed, 0 failed"), "{out}");
    assert!(
        std::fs::metadata(&shot).unwrap().len() > 10_000,
        "a screenshot was taken"
    );
}

/// A free loopback port (bound and released; the node binds it right after).
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

#[test]
fn definitions_import_into_rabbitmq() {
    if !switch(
        "TRACKSWITCH_TEST_RABBITMQ",
        "definitions_import_into_rabbitmq",
    ) {
        return;
    }
    let tools = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/tools/rabbit");
    assert!(
        tools.join("start.sh").exists(),
        "{} holds RabbitMQ's scripts",
        tools.display()
    );
    // A node of this test's own: its own AMQP and management ports and state. Its
    // Erlang distribution port is the AMQP port + 20000, so both must be free and
    // below 65536.
    let start_at = 30_000 + (std::process::id() % 10_000) as u16;
    let port = (start_at..45_000)
        .chain(30_000..start_at)
        .find(|p| {
            std::net::TcpListener::bind(("127.0.0.1", *p)).is_ok()
                && std::net::TcpListener::bind(("127.0.0.1", *p + 20_000)).is_ok()
        })
        .expect("a free port pair");
    let http = free_port();
    let node = |script: &str, extra: &[&str]| {
        let out = Command::new("bash")
            .arg(tools.join(script))
            .args(extra)
            .env("RABBIT_PORT", port.to_string())
            .env("RABBIT_MANAGEMENT_PORT", http.to_string())
            .output()
            .unwrap();
        (
            out.status.success(),
            format!(
                "{}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            ),
        )
    };
    let (ok, log) = node("start.sh", &["--fresh"]);
    assert!(ok, "RabbitMQ did not start:\n{log}");
    let r = start();
    let result = std::panic::catch_unwind(|| {
        run_script(
            "definitions_to_rabbitmq.py",
            &[
                "--source".into(),
                format!("http://{}", r.http),
                "--source-amqp-url".into(),
                format!("amqp://guest:guest@{}/", r.amqp),
                "--target".into(),
                format!("http://127.0.0.1:{http}"),
                "--full".into(),
            ],
        )
    });
    let _ = node("stop.sh", &["--wipe"]);
    let out = result.unwrap_or_else(|e| std::panic::resume_unwind(e));
    eprintln!("{out}");
    assert!(out.contains(" passed, 0 failed"), "{out}");
}
