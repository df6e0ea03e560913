//! The binary details every non-OK doq status carries (docs/errors.md §6 [EXT]): a `google.rpc.Status` whose
//! `details` hold one `google.rpc.ErrorInfo{reason=<code>, domain="doq"}`, in `grpc-status-details-bin`,
//! encoded by `tonic-types` (the gRPC project's own `google.rpc` types).
use std::collections::BTreeMap;

use tonic::{Code, Status};
use tonic_types::{ErrorDetails, StatusExt};

/// `ErrorInfo.domain` of every doq error.
pub(crate) const DOMAIN: &str = "doq";

/// A status with `code` and `message` whose details name doq's `reason`, with `metadata` such as where a
/// validation error is (`location`) and why (`message`).
pub(crate) fn status(
    code: Code,
    message: String,
    reason: &str,
    metadata: BTreeMap<String, String>,
) -> Status {
    let details = ErrorDetails::with_error_info(
        reason,
        DOMAIN,
        metadata
            .into_iter()
            .collect::<std::collections::HashMap<_, _>>(),
    );
    Status::with_error_details(code, message, details)
}

/// The `ErrorInfo` inside a status's details, if it carries one (tests read it back).
#[cfg(test)]
pub(crate) fn error_info(status: &Status) -> Option<tonic_types::ErrorInfo> {
    status.get_details_error_info()
}
