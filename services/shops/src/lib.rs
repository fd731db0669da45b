//! The `shops` Spin component; all logic lives in `siyu::api::shops`.

use spin_sdk::http::{IncomingRequest, ResponseOutparam};
use spin_sdk::http_component;

#[http_component]
async fn handle(req: IncomingRequest, out: ResponseOutparam) {
    siyu_spin_glue::serve(req, out, "shops", siyu::api::shops::handle).await
}
