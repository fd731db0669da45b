//! The `jobs` Spin component; all logic lives in `siyu::api::jobs`.

use spin_sdk::http::{IncomingRequest, ResponseOutparam};
use spin_sdk::http_component;

#[http_component]
async fn handle(req: IncomingRequest, out: ResponseOutparam) {
    siyu_spin_glue::serve(req, out, "jobs", siyu::api::jobs::handle).await
}
