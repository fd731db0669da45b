//! The `console` Spin component; all logic lives in `siyu::api::console`.

use spin_sdk::http::{IncomingRequest, ResponseOutparam};
use spin_sdk::http_component;

#[http_component]
async fn handle(req: IncomingRequest, out: ResponseOutparam) {
    siyu_spin_glue::serve_without_store(req, out, "console", siyu::api::console::handle).await
}
