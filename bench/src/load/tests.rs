//! The load generator against the in-process ceiling server.

use std::time::Duration;

use hyper::header::HeaderMap;

use super::*;

fn config(socket: PathBuf, connections: usize, stop: Stop, expect: Option<u16>) -> LoadConfig {
    let request = RequestTemplate::new(Method::GET, Uri::from_static("/x"), HeaderMap::new(), Bytes::new());
    LoadConfig { socket, request, connections, stop, warmup: Duration::ZERO, deadline: Duration::from_secs(20), expect }
}

async fn with_ceiling<F: Future<Output = ()>>(test: impl FnOnce(PathBuf) -> F) {
    let dir = tempfile::tempdir().expect("tempdir");
    let socket = dir.path().join("ceiling.sock");
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn({
        let socket = socket.clone();
        async move { crate::ceiling::serve(&socket, async { stopped.await.unwrap_or_default() }).await }
    });
    for _ in 0..200 {
        if socket.exists() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    test(socket).await;
    stop.send(()).expect("server still running");
    server.await.expect("join").expect("served");
}

#[tokio::test]
async fn counts_exactly_the_requests_asked_for() {
    with_ceiling(|socket| async move {
        let report = run(config(socket, 4, Stop::Requests(500), None)).await.expect("run");
        assert_eq!((report.ok, report.unexpected, report.errors), (500, 0, 0));
        assert!(report.complete);
        assert_eq!(report.statuses.get(&200), Some(&500));
        let latency = report.latency.expect("latencies");
        assert!(latency.p50_us <= latency.p99_us && latency.p99_us <= latency.max_us);
    })
    .await;
}

#[tokio::test]
async fn another_status_than_expected_is_counted_apart() {
    with_ceiling(|socket| async move {
        let report = run(config(socket, 2, Stop::Requests(50), Some(401))).await.expect("run");
        assert_eq!((report.ok, report.unexpected), (0, 50));
        assert!(report.latency.is_none());
    })
    .await;
}

#[tokio::test]
async fn a_missing_server_is_errors_within_the_deadline() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut config = config(dir.path().join("none.sock"), 2, Stop::Requests(10), None);
    config.deadline = Duration::from_millis(100);
    let report = run(config).await.expect("run");
    assert!(report.errors > 0 && !report.complete);
    assert!(report.first_error.is_some());
}
