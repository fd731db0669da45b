//! The `console` Spin component; all logic lives in `siyu::api::console`.

use spin_sdk::http_component;

#[http_component]
fn handle(req: http::Request<Vec<u8>>) -> http::Response<Vec<u8>> {
    siyu_spin_glue::run(req, siyu::api::console::handle)
}
