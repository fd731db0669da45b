//! The `ingest` Spin component; all logic lives in `siyu::api::ingest`.

use spin_sdk::http::{IncomingRequest, ResponseOutparam};
use spin_sdk::http_component;

#[http_component]
async fn handle(req: IncomingRequest, out: ResponseOutparam) {
    siyu_spin_glue::serve(req, out, "ingest", siyu::api::ingest::handle).await
}
