//! Prometheus metrics in the text exposition format (0.0.4), with the metric names,
//! types and help texts of RabbitMQ 3.10.8's `rabbitmq_prometheus` plugin for what
//! trackswitch counts: `/metrics` aggregates queues (no labels, as that plugin's
//! default), `/metrics/per-object` labels each queue's by `vhost` and `queue`.
//! Unauthenticated, as that plugin's endpoint.

use std::fmt::Write as _;
use std::sync::Arc;

use axum::extract::State;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};

use super::error::ApiResult;
use super::shapes::NODE;
use super::{App, blocking};
use crate::broker::QueueInfo;

/// One family: writes `# TYPE` then `# HELP` (the plugin's order) and the samples.
fn family(out: &mut String, name: &str, kind: &str, help: &str, samples: &[(String, f64)]) {
    let _ = writeln!(out, "# TYPE {name} {kind}");
    let _ = writeln!(out, "# HELP {name} {help}");
    for (labels, value) in samples {
        let _ = writeln!(out, "{name}{labels} {value}");
    }
}

/// A label value escaped as the exposition format wants (`\\`, `\"`, `\n`).
fn escape(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

fn one(v: impl Into<f64>) -> Vec<(String, f64)> {
    vec![(String::new(), v.into())]
}

fn classic(v: u64) -> Vec<(String, f64)> {
    vec![(
        "{protocol=\"amqp091\",queue_type=\"rabbit_classic_queue\"}".into(),
        v as f64,
    )]
}

fn amqp(v: u64) -> Vec<(String, f64)> {
    vec![("{protocol=\"amqp091\"}".into(), v as f64)]
}

/// The process's resident memory (Linux: `/proc/self/statm`), if known.
fn resident_bytes() -> Option<u64> {
    let statm = std::fs::read_to_string("/proc/self/statm").ok()?;
    let pages: u64 = statm.split_whitespace().nth(1)?.parse().ok()?;
    Some(pages * 4096)
}

/// A per-queue gauge: its name, help text and value.
type QueueGauge = (&'static str, &'static str, fn(&QueueInfo) -> u64);

const QUEUE_GAUGES: [QueueGauge; 5] = [
    (
        "rabbitmq_queue_messages_ready",
        "Messages ready to be delivered to consumers",
        |q| q.ready,
    ),
    (
        "rabbitmq_queue_messages_unacked",
        "Messages delivered to consumers but not yet acknowledged",
        |q| q.unacked,
    ),
    (
        "rabbitmq_queue_messages",
        "Sum of ready and unacknowledged messages - total queue depth",
        |q| q.ready + q.unacked,
    ),
    ("rabbitmq_queue_consumers", "Consumers on a queue", |q| {
        q.consumers as u64
    }),
    (
        "rabbitmq_queue_messages_ready_bytes",
        "Size in bytes of ready messages",
        |q| q.ready_bytes,
    ),
];

fn render(app: &App, per_object: bool) -> String {
    let broker = app.broker();
    let mut out = String::new();
    let limits = &app.shared.config.limits;
    let memory_alarm = limits.memory_high_watermark != 0
        && app.shared.memory_in_use() >= limits.memory_high_watermark;
    family(
        &mut out,
        "rabbitmq_alarms_free_disk_space_watermark",
        "untyped",
        "is 1 if free disk space watermark alarm is in effect",
        &one(u8::from(broker.disk_alarm())),
    );
    family(
        &mut out,
        "rabbitmq_alarms_memory_used_watermark",
        "untyped",
        "is 1 if VM memory watermark alarm is in effect",
        &one(u8::from(memory_alarm)),
    );
    if let Some(rss) = resident_bytes() {
        family(
            &mut out,
            "rabbitmq_process_resident_memory_bytes",
            "gauge",
            "Memory used in bytes",
            &one(rss as f64),
        );
    }
    family(
        &mut out,
        "rabbitmq_resident_memory_limit_bytes",
        "gauge",
        "Memory high watermark in bytes",
        &one(limits.memory_high_watermark as f64),
    );
    family(
        &mut out,
        "rabbitmq_disk_space_available_limit_bytes",
        "gauge",
        "Free disk space low watermark in bytes",
        &one(limits.disk_free_limit as f64),
    );

    let mut queues: Vec<(String, QueueInfo)> = Vec::new();
    let (mut received, mut unroutable, mut returned) = (0u64, 0u64, 0u64);
    for v in broker.vhosts() {
        if let Ok(info) = broker.vhost_info(&v) {
            received += info.published;
            unroutable += info.unroutable;
            returned += info.returned;
        }
        if let Ok(qs) = broker.queues(&v) {
            queues.extend(qs.into_iter().map(|q| (v.clone(), q)));
        }
    }
    for (name, help, get) in QUEUE_GAUGES {
        let samples: Vec<(String, f64)> = if per_object {
            queues
                .iter()
                .map(|(v, q)| {
                    (
                        format!("{{vhost=\"{}\",queue=\"{}\"}}", escape(v), escape(&q.name)),
                        get(q) as f64,
                    )
                })
                .collect()
        } else {
            one(queues.iter().map(|(_, q)| get(q)).sum::<u64>() as f64)
        };
        family(&mut out, name, "gauge", help, &samples);
    }
    let connections = broker.connections();
    let channels: usize = connections.iter().map(|c| c.channels).sum();
    let consumers = broker.consumers().len();
    family(
        &mut out,
        "rabbitmq_connections",
        "gauge",
        "Connections currently open",
        &one(connections.len() as f64),
    );
    family(
        &mut out,
        "rabbitmq_channels",
        "gauge",
        "Channels currently open",
        &one(channels as f64),
    );
    family(
        &mut out,
        "rabbitmq_consumers",
        "gauge",
        "Consumers currently connected",
        &one(consumers as f64),
    );
    family(
        &mut out,
        "rabbitmq_queues",
        "gauge",
        "Queues available",
        &one(queues.len() as f64),
    );
    family(
        &mut out,
        "rabbitmq_build_info",
        "untyped",
        "RabbitMQ & Erlang/OTP version info",
        &[(
            format!(
                "{{rabbitmq_version=\"3.10.8\",product_name=\"trackswitch\",product_version=\"{}\"}}",
                env!("CARGO_PKG_VERSION")
            ),
            1.0,
        )],
    );
    family(
        &mut out,
        "rabbitmq_identity_info",
        "untyped",
        "RabbitMQ node & cluster identity info",
        &[(
            format!("{{rabbitmq_node=\"{NODE}\",rabbitmq_cluster=\"{NODE}\"}}"),
            1.0,
        )],
    );
    let sum = |f: fn(&QueueInfo) -> u64| queues.iter().map(|(_, q)| f(q)).sum::<u64>();
    family(
        &mut out,
        "rabbitmq_global_consumers",
        "gauge",
        "Current number of consumers",
        &amqp(consumers as u64),
    );
    family(
        &mut out,
        "rabbitmq_global_messages_acknowledged_total",
        "counter",
        "Total number of messages acknowledged by consumers",
        &classic(sum(|q| q.acked)),
    );
    family(
        &mut out,
        "rabbitmq_global_messages_delivered_total",
        "counter",
        "Total number of messages delivered to consumers",
        &classic(sum(|q| q.delivered)),
    );
    family(
        &mut out,
        "rabbitmq_global_messages_received_total",
        "counter",
        "Total number of messages received from publishers",
        &amqp(received),
    );
    family(
        &mut out,
        "rabbitmq_global_messages_redelivered_total",
        "counter",
        "Total number of messages redelivered to consumers",
        &classic(sum(|q| q.redelivered)),
    );
    family(
        &mut out,
        "rabbitmq_global_messages_routed_total",
        "counter",
        "Total number of messages routed to queues or streams",
        &amqp(received.saturating_sub(unroutable)),
    );
    family(
        &mut out,
        "rabbitmq_global_messages_unroutable_dropped_total",
        "counter",
        "Total number of messages published as non-mandatory into an exchange and dropped as unroutable",
        &amqp(unroutable.saturating_sub(returned)),
    );
    family(
        &mut out,
        "rabbitmq_global_messages_unroutable_returned_total",
        "counter",
        "Total number of messages published as mandatory into an exchange and returned to the publisher as unroutable",
        &amqp(returned),
    );
    out
}

fn text(body: String) -> Response {
    (
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/plain; version=0.0.4"),
        )],
        body,
    )
        .into_response()
}

pub(super) async fn aggregated(State(app): State<Arc<App>>) -> ApiResult<Response> {
    Ok(text(blocking(move || render(&app, false)).await?))
}

pub(super) async fn per_object(State(app): State<Arc<App>>) -> ApiResult<Response> {
    Ok(text(blocking(move || render(&app, true)).await?))
}
