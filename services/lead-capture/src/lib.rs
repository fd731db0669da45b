//! The `lead-capture` Spin component; all logic lives in `siyu::api::lead_capture`.

use spin_sdk::http::{IncomingRequest, ResponseOutparam};
use spin_sdk::http_component;

#[http_component]
async fn handle(req: IncomingRequest, out: ResponseOutparam) {
    siyu_spin_glue::serve(req, out, "lead-capture", siyu::api::lead_capture::handle).await
}
