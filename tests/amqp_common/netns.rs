//! What the tests that run inside a private network namespace share: their switch and
//! the port wait their shell scripts run.

/// The switch of the tests that need a private network namespace (`unshare` from
/// util-linux and user namespaces): `TRACKSWITCH_TEST_NETNS=1` (`.ci/run` sets it). Off,
/// the test says so in one line and does nothing; on, a missing `unshare` fails it.
pub(crate) fn netns_switch(test: &str) -> bool {
    let on = std::env::var("TRACKSWITCH_TEST_NETNS").is_ok_and(|v| v == "1");
    if !on {
        eprintln!(
            "{test}: not run: set TRACKSWITCH_TEST_NETNS=1 (needs unshare and user namespaces)"
        );
    }
    on
}

/// Waits (30 s at most) until each `HOST:PORT` argument accepts connections; prints
/// `listening on HOST` for each. Run in the namespace scripts as `$WAIT`.
pub(crate) const WAIT_FOR_PORTS: &str = "import socket, sys, time
deadline = time.monotonic() + 30
for addr in sys.argv[1:]:
    host, port = addr.rsplit(':', 1)
    while True:
        try:
            socket.create_connection((host, int(port)), timeout=1).close()
            print('listening on', host)
            break
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)";
