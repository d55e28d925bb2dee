//! One connection task: connect, then send requests back to back on the
//! keep-alive connection until the plan says stop; reconnect after an error.
//!
//! The hyper connection future is polled in the same task as the requests
//! (no second task per connection), like a simple synchronous client would.

use std::pin::pin;
use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::{self, SendRequest};
use hyper_util::rt::TokioIo;
use tokio::net::UnixStream;

use super::{Plan, RECONNECT_PAUSE, Tally};

/// Runs one connection (and its successors) until the plan is finished.
pub(super) async fn run(plan: Arc<Plan>) -> Tally {
    let mut tally = Tally::default();
    while !plan.finished() {
        if let Err(err) = connection(&plan, &mut tally).await {
            tally.error(&err);
            tokio::time::sleep(RECONNECT_PAUSE).await;
        }
    }
    tally
}

/// One connection's life: handshake, then requests until stop or error.
async fn connection(plan: &Plan, tally: &mut Tally) -> anyhow::Result<()> {
    let stream = UnixStream::connect(&plan.socket).await?;
    let (sender, conn) = http1::handshake::<_, Full<Bytes>>(TokioIo::new(stream)).await?;
    let mut conn = pin!(conn);
    let mut work = pin!(requests(plan, sender, tally));
    tokio::select! {
        biased;
        () = &mut work => {}
        // The server closed the connection: the request in flight, if any,
        // fails in `requests`, which records it and returns.
        _ = &mut conn => work.await,
    }
    Ok(())
}

/// Sends requests on `sender` until the plan is finished or one fails.
async fn requests(plan: &Plan, mut sender: SendRequest<Full<Bytes>>, tally: &mut Tally) {
    while plan.next() {
        let started = Instant::now();
        let answered = async {
            sender.ready().await?;
            let response = sender.send_request(plan.request.build()).await?;
            let status = response.status().as_u16();
            // Read the whole body: the answer is not complete before it.
            response.into_body().collect().await?;
            Ok::<_, hyper::Error>(status)
        }
        .await;
        match answered {
            Ok(status) => tally.answer(status, plan.good(status), started.elapsed(), started >= plan.measure_from),
            Err(err) => return tally.error(&err),
        }
    }
}
