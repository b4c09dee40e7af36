//! Stopping `trackswitch serve` as supervisors do: SIGTERM (systemd, container
//! runtimes) and SIGINT (Ctrl-C) both close every connection with 320
//! CONNECTION_FORCED and exit 0 after a bounded drain (issue 12, finding 5: SIGTERM
//! dropped every socket without a Close). Loopback, port 0, bounded waits.
#![cfg(all(feature = "server", unix))]

use std::time::Duration;

use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

mod amqp_common;

use amqp_common::raw::*;
use amqp_common::serve;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_and_sigint_close_connections_with_320() {
    for signal in ["-TERM", "-INT"] {
        let (mut server, addr) = serve(&[]);
        let mut clients = Vec::new();
        for _ in 0..3 {
            let mut s = TcpStream::connect(&addr).await.unwrap();
            let mut bytes = handshake(131_072);
            bytes.extend(channel_open(1));
            s.write_all(&bytes).await.unwrap();
            let mut got = Vec::new();
            read_until(&mut s, &mut got, |fs| {
                fs.iter()
                    .any(|(k, ch, p)| *k == 1 && *ch == 1 && ids(p) == (20, 11))
            })
            .await;
            clients.push((s, got));
        }
        let status = std::process::Command::new("kill")
            .args([signal, &server.id().to_string()])
            .status()
            .expect("run kill");
        assert!(status.success());
        for (s, got) in &mut clients {
            let fs = read_until(s, got, |fs| {
                fs.iter()
                    .any(|(k, ch, p)| *k == 1 && *ch == 0 && ids(p) == (10, 50))
            })
            .await;
            let close = fs
                .iter()
                .find(|(k, ch, p)| *k == 1 && *ch == 0 && ids(p) == (10, 50))
                .expect("connection.close");
            assert_eq!(
                u16::from_be_bytes([close.2[4], close.2[5]]),
                320,
                "{signal}"
            );
            // Close-Ok, as a client does: the server then lets the connection go.
            s.write_all(&method(0, 10, 51, &[])).await.unwrap();
        }
        let exit =
            tokio::task::spawn_blocking(move || server.wait_for_exit(Duration::from_secs(20)))
                .await
                .unwrap();
        assert_eq!(
            exit.and_then(|s| s.code()),
            Some(0),
            "{signal}: exit status {exit:?}"
        );
    }
}
