//! Reading a request body as JSON, within the size limit.

use http_body_util::{BodyExt, Limited};
use hyper::body::Incoming;
use serde_json::Value;
use vanta_shared::defaults::MAX_BODY_BYTES;

use crate::vault::Error;

/// Reads at most 64 KiB and parses it as JSON.
///
/// # Errors
/// [`Error::BodyTooLarge`] over the limit, [`Error::MalformedBody`] if the
/// bytes are not JSON or the connection fails mid-body.
pub async fn read_json(body: Incoming) -> Result<Value, Error> {
    let collected = Limited::new(body, MAX_BODY_BYTES).collect().await.map_err(|err| {
        if err.downcast_ref::<http_body_util::LengthLimitError>().is_some() {
            Error::BodyTooLarge
        } else {
            Error::MalformedBody
        }
    })?;
    serde_json::from_slice(&collected.to_bytes()).map_err(|_| Error::MalformedBody)
}
