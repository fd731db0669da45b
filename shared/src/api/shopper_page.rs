//! The frame of the pages a shopper sees (sign-up form, thank-you, errors): the shop's name,
//! logo and colour, `lang`, a phone-first layout, and a strict Content-Security-Policy — the
//! one stylesheet and the one small script are inline and allowed by their hashes, nothing
//! else runs, and nothing is loaded from elsewhere but the shop's own logo and QR images.

use base64::Engine;
use sha2::{Digest, Sha256};

use crate::shops::Shop;
use crate::web::{html_response, with_header, Response};

/// Progressive enhancement only; every page works without it. Copy buttons (the code is
/// selectable without them), and on forms that verify numbers, a button that sends the code
/// at once (`POST /q/{code}/verify`) so the form needs no second page.
const SCRIPT: &str = "document.querySelectorAll('[data-copy]').forEach(function(b){b.hidden=false;\
b.addEventListener('click',function(){navigator.clipboard.writeText(b.getAttribute('data-copy'))\
.then(function(){b.textContent=b.getAttribute('data-done');});});});\
(function(){var row=document.getElementById('code-row');if(!row)return;row.hidden=false;\
document.getElementById('verify-note').hidden=true;\
var b=document.getElementById('send-code'),s=document.getElementById('code-status'),\
p=document.getElementById('phone'),c=document.getElementById('phone_code'),t=null;\
function say(k,x){s.textContent=b.getAttribute(k)+(x?' '+x:'');}\
function wait(until){var left=Math.ceil((Date.parse(until)-Date.now())/1000);clearInterval(t);\
function tick(){if(left<=0){clearInterval(t);b.disabled=false;b.textContent=b.getAttribute('data-again');return;}\
b.disabled=true;b.textContent=b.getAttribute('data-again')+' ('+left+')';left--;}tick();t=setInterval(tick,1000);}\
b.addEventListener('click',function(){if(!p.value.trim()){p.focus();p.reportValidity();return;}b.disabled=true;\
fetch(b.getAttribute('data-url'),{method:'POST',headers:{'content-type':'application/json'},\
body:JSON.stringify({phone:p.value})}).then(function(r){return r.json().then(function(j){return{ok:r.ok,j:j};});})\
.then(function(r){if(r.ok){say('data-sent',r.j.sent_to);c.required=true;c.focus();wait(r.j.resend_after);}\
else{say(r.j.error&&r.j.error.code==='rate_limited'?'data-limited':'data-failed');b.disabled=false;}})\
.catch(function(){say('data-failed');b.disabled=false;});});})();";

const DEFAULT_ACCENT: &str = "#0b6bcb";

/// Text made safe for HTML text and attribute values.
pub fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&#39;")
}

fn style(accent: &str) -> String {
    format!(
        ":root{{--accent:{accent}}}*{{box-sizing:border-box}}[hidden]{{display:none!important}}\
         body{{margin:0;font:16px/1.55 system-ui,-apple-system,\"PingFang SC\",\"Microsoft YaHei\",sans-serif;\
         color:#1f2328;background:#f6f8fa}}\
         main{{max-width:30rem;margin:0 auto;padding:1.25rem 1rem 2rem;background:#fff;min-height:100vh}}\
         .brand{{display:flex;align-items:center;gap:.6rem;margin-bottom:1rem;color:#59636e;font-weight:600}}\
         .brand img{{height:2.5rem;width:auto;max-width:8rem;object-fit:contain}}\
         h1{{font-size:1.45rem;line-height:1.3;margin:.2rem 0 .6rem}}h2{{font-size:1.05rem;margin:1.2rem 0 .4rem}}\
         .en{{display:block;font-size:.85em;color:#59636e;font-weight:400}}\
         .benefit{{font-size:1.1rem;font-weight:600;color:var(--accent);margin:0 0 1rem}}\
         label{{display:block;font-weight:600;margin:1rem 0 .3rem}}\
         input[type=tel],input[type=email],input[type=text]{{width:100%;padding:.7rem;font-size:1rem;\
         border:1px solid #8c959f;border-radius:8px}}\
         input:focus-visible,button:focus-visible,a:focus-visible{{outline:3px solid #f0b400;outline-offset:2px}}\
         .notice{{margin-top:1.2rem;padding:.8rem 1rem;background:#f6f8fa;border-radius:8px;font-size:.9rem}}\
         .notice p{{margin:.3rem 0}}.check{{display:flex;gap:.6rem;align-items:flex-start;margin-top:1rem}}\
         .check input{{width:1.3rem;height:1.3rem;margin-top:.15rem;flex:none}}.check label{{margin:0;font-weight:400}}\
         button,.button{{display:block;width:100%;margin-top:1.2rem;padding:.85rem;font-size:1.05rem;font-weight:600;\
         color:#fff;background:var(--accent);border:0;border-radius:8px;text-align:center;text-decoration:none;cursor:pointer}}\
         .button.secondary{{background:#fff;color:var(--accent);border:2px solid var(--accent)}}\
         a{{color:var(--accent)}}.coupon{{border:2px dashed var(--accent);border-radius:10px;padding:1rem;margin:1rem 0;text-align:center}}\
         .coupon strong{{display:block;font:700 1.6rem/1.3 ui-monospace,monospace;letter-spacing:.05em;user-select:all;margin:.3rem 0}}\
         .coupon button{{width:auto;display:inline-block;padding:.5rem 1.2rem;margin-top:.5rem}}\
         .qr{{display:block;width:12rem;height:12rem;margin:1rem auto}}\
         .error{{color:#82071e;background:#ffebe9;border-radius:8px;padding:.8rem 1rem}}\
         .hint{{color:#59636e;font-size:.9rem;margin:.4rem 0 0}}.verified{{color:#1a7f37;font-weight:600}}\
         #code-status{{min-height:1.5em;margin:.4rem 0 0;font-size:.9rem}}"
    )
}

/// `sha256-…` for a Content-Security-Policy source of this inline text.
fn hash_source(text: &str) -> String {
    let digest = Sha256::digest(text.as_bytes());
    format!(
        "'sha256-{}'",
        base64::engine::general_purpose::STANDARD.encode(digest)
    )
}

/// A page in the shop's colours: `title` for the tab (plain text), `body` trusted HTML
/// (the callers escape what they did not write).
pub fn page(status: u16, shop: &Shop, title: &str, body: &str) -> Response {
    let branding = &shop.branding;
    let name = escape(branding.display_name.as_deref().unwrap_or(&shop.name));
    let accent = branding.accent_color.as_deref().unwrap_or(DEFAULT_ACCENT);
    let style = style(accent);
    let logo = branding
        .logo_url
        .as_ref()
        .map(|url| format!("<img src=\"{}\" alt=\"\">", escape(url.as_str())))
        .unwrap_or_default();
    let html = format!(
        "<!doctype html><html lang=\"zh-CN\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width,initial-scale=1\">\
         <meta name=\"referrer\" content=\"no-referrer\">\
         <title>{} · {name}</title><style>{style}</style></head>\
         <body><main><div class=\"brand\">{logo}<span>{name}</span></div>{body}</main>\
         <script>{SCRIPT}</script></body></html>",
        escape(title)
    );
    let policy = format!(
        "default-src 'none'; style-src {}; script-src {}; img-src https: http: data:; connect-src 'self'; \
         form-action 'self'; base-uri 'none'; frame-ancestors 'none'",
        hash_source(&style),
        hash_source(SCRIPT)
    );
    [
        ("content-security-policy", policy.as_str()),
        ("x-content-type-options", "nosniff"),
        ("referrer-policy", "no-referrer"),
    ]
    .into_iter()
    .fold(html_response(status, html), |r, (name, value)| {
        with_header(r, name, value)
    })
}
