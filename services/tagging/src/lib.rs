//! The `tagging` Spin component; all logic lives in `siyu::api::tagging`.

use spin_sdk::http::{IncomingRequest, ResponseOutparam};
use spin_sdk::http_component;

#[http_component]
async fn handle(req: IncomingRequest, out: ResponseOutparam) {
    siyu_spin_glue::serve(req, out, "tagging", siyu::api::tagging::handle).await
}
