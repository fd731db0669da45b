//! Sample deliveries in each platform's documented format, signed as each platform signs.

use base64::Engine;
use hmac::{Hmac, Mac};
use http::Method;
use md5::{Digest, Md5};
use serde_json::{json, Value};
use sha2::Sha256;
use siyu::web::Request;

pub const SHOPIFY_SECRET: &str = "shpss_current_0123456789";
pub const SHOPIFY_OLD_SECRET: &str = "shpss_previous_0123456789";
pub const WOO_SECRET: &str = "woo-webhook-secret-0123";
pub const YOUZAN_CLIENT_ID: &str = "yz-client-0001";
pub const YOUZAN_SECRET: &str = "yz-secret-0123456789";
/// The Shopify shop the sample shops are connected to (`X-Shopify-Shop-Domain`).
pub const SHOPIFY_DOMAIN: &str = "tea-house.myshopify.com";

pub fn shop_body(name: &str) -> Value {
    json!({
        "name": name,
        "currency": "CNY",
        "credentials": {
            "shopify_secrets": [SHOPIFY_SECRET, SHOPIFY_OLD_SECRET],
            "shopify_shop_domain": SHOPIFY_DOMAIN,
            "woocommerce_secret": WOO_SECRET,
            "youzan": {"client_id": YOUZAN_CLIENT_ID, "client_secret": YOUZAN_SECRET}
        }
    })
}

pub fn hmac_sha256(secret: &str, parts: &[&[u8]]) -> Vec<u8> {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    for p in parts {
        mac.update(p);
    }
    mac.finalize().into_bytes().to_vec()
}

fn post(path: String, headers: &[(&str, String)], body: Vec<u8>) -> Request {
    let mut builder = http::Request::builder().method(Method::POST).uri(path);
    for (name, value) in headers {
        builder = builder.header(*name, value);
    }
    builder.body(body).unwrap()
}

/// A buyer as platforms describe them; any part may be missing.
#[derive(Debug, Clone, Default)]
pub struct Buyer {
    pub platform_id: Option<u64>,
    pub email: Option<&'static str>,
    pub phone: Option<&'static str>,
}

/// A line: product id, variant id, sku, title, quantity, unit price (decimal string).
pub type Line = (u64, u64, &'static str, &'static str, i64, &'static str);

pub const TEA: Line = (7001, 8001, "TEA-250G", "Oolong tea 250 g", 1, "59.90");
pub const CUPS: Line = (7002, 8002, "CUP-SET", "Tea cups", 2, "25.00");

// ---------------------------------------------------------------- Shopify

pub fn shopify_order(
    id: u64,
    buyer: &Buyer,
    financial_status: &str,
    total: &str,
    lines: &[Line],
) -> Value {
    json!({
        "id": id,
        "name": format!("#{}", 1000 + id % 1000),
        "email": buyer.email,
        "phone": buyer.phone,
        "created_at": "2026-11-20T10:00:00+08:00",
        "processed_at": "2026-11-20T10:00:05+08:00",
        "updated_at": "2026-11-20T10:00:05+08:00",
        "cancelled_at": null,
        "currency": "CNY",
        "total_price": total,
        "subtotal_price": total,
        "total_discounts": "0.00",
        "financial_status": financial_status,
        "buyer_accepts_marketing": true,
        "test": false,
        "customer": buyer.platform_id.map(|cid| json!({
            "id": cid,
            "email": buyer.email,
            "phone": buyer.phone,
            "first_name": "Mei",
            "last_name": "Lin",
        })),
        "line_items": lines.iter().map(|(pid, vid, sku, title, qty, price)| json!({
            "id": pid * 10,
            "product_id": pid,
            "variant_id": vid,
            "sku": sku,
            "title": title,
            "quantity": qty,
            "price": price,
        })).collect::<Vec<_>>(),
        "discount_codes": [{"code": "WELCOME10", "amount": "0.00", "type": "fixed_amount"}],
        "refunds": [],
    })
}

pub fn shopify_refund(order_id: u64, refund_id: u64, amount: &str) -> Value {
    json!({
        "id": refund_id,
        "order_id": order_id,
        "created_at": "2026-11-21T09:00:00+08:00",
        "note": "damaged",
        "refund_line_items": [],
        "transactions": [{
            "id": refund_id + 1,
            "order_id": order_id,
            "kind": "refund",
            "status": "success",
            "amount": amount,
            "currency": "CNY",
        }],
    })
}

/// The phone of the benchmarks' repeat customer number `customer`.
pub fn bench_phone(customer: u64) -> String {
    format!("+86139{customer:08}")
}

/// A paid Shopify order `order` by the benchmarks' repeat customer number `customer`.
pub fn bench_order(order: u64, customer: u64) -> Value {
    let mut body = shopify_order(order, &Buyer::default(), "paid", "59.90", &[TEA]);
    body["phone"] = json!(bench_phone(customer));
    body["customer"] =
        json!({"id": 1_000_000 + customer, "phone": bench_phone(customer), "first_name": "Bench"});
    body
}

/// Shopify's X-Shopify-Hmac-Sha256: base64 HMAC-SHA256 of the raw body.
pub fn sign_shopify(body: &[u8], secret: &str) -> String {
    base64::engine::general_purpose::STANDARD.encode(hmac_sha256(secret, &[body]))
}

/// A signed Shopify delivery; `webhook_id` plays the X-Shopify-Webhook-Id header.
pub fn shopify_request(
    shop: &str,
    topic: &str,
    body: &Value,
    secret: &str,
    webhook_id: &str,
) -> Request {
    let bytes = serde_json::to_vec(body).unwrap();
    let signature = sign_shopify(&bytes, secret);
    post(
        format!("/webhooks/shopify/{shop}"),
        &[
            ("content-type", "application/json".into()),
            ("x-shopify-topic", topic.into()),
            ("x-shopify-hmac-sha256", signature),
            ("x-shopify-shop-domain", SHOPIFY_DOMAIN.into()),
            ("x-shopify-api-version", "2026-10".into()),
            ("x-shopify-webhook-id", webhook_id.into()),
            ("x-shopify-triggered-at", "2026-11-20T02:00:06Z".into()),
        ],
        bytes,
    )
}

// ---------------------------------------------------------------- WooCommerce

pub fn woo_order(id: u64, buyer: &Buyer, status: &str, total: &str, lines: &[Line]) -> Value {
    let paid = matches!(status, "processing" | "completed" | "refunded");
    json!({
        "id": id,
        "number": id.to_string(),
        "status": status,
        "currency": "CNY",
        "date_created_gmt": "2026-11-20T02:00:00",
        "date_modified_gmt": "2026-11-20T02:05:00",
        "date_paid_gmt": if paid { Some("2026-11-20T02:01:00") } else { None },
        "customer_id": buyer.platform_id.unwrap_or(0),
        "billing": {
            "first_name": "Mei",
            "last_name": "Lin",
            "email": buyer.email.unwrap_or(""),
            "phone": buyer.phone.unwrap_or(""),
        },
        "discount_total": "0.00",
        "total": total,
        "line_items": lines.iter().map(|(pid, vid, sku, title, qty, price)| json!({
            "id": pid * 10,
            "name": title,
            "product_id": pid,
            "variation_id": vid,
            "quantity": qty,
            "sku": sku,
            "price": price.parse::<f64>().unwrap(),
            "total": price,
        })).collect::<Vec<_>>(),
        "coupon_lines": [],
        "refunds": [],
    })
}

pub fn woo_request(shop: &str, topic: &str, body: &Value, secret: &str) -> Request {
    let bytes = serde_json::to_vec(body).unwrap();
    let signature =
        base64::engine::general_purpose::STANDARD.encode(hmac_sha256(secret, &[&bytes]));
    post(
        format!("/webhooks/woocommerce/{shop}"),
        &[
            ("content-type", "application/json".into()),
            ("x-wc-webhook-source", "https://tea.example.com/".into()),
            ("x-wc-webhook-topic", topic.into()),
            ("x-wc-webhook-resource", "order".into()),
            ("x-wc-webhook-event", "created".into()),
            ("x-wc-webhook-signature", signature),
            ("x-wc-webhook-id", "12".into()),
            ("x-wc-webhook-delivery-id", "a1b2".into()),
        ],
        bytes,
    )
}

/// The unsigned activation ping WooCommerce sends when a webhook is saved.
pub fn woo_ping(shop: &str) -> Request {
    post(
        format!("/webhooks/woocommerce/{shop}"),
        &[("content-type", "application/x-www-form-urlencoded".into())],
        b"webhook_id=12".to_vec(),
    )
}

// ---------------------------------------------------------------- Youzan

/// A trade message's business object (`msg` before URL-encoding).
pub fn youzan_trade(
    tid: &str,
    phone: Option<&str>,
    open_id: Option<&str>,
    payment: &str,
    lines: &[Line],
) -> Value {
    json!({
        "full_order_info": {
            "order_info": {
                "tid": tid,
                "status": "WAIT_SELLER_SEND_GOODS",
                "created": "2026-11-20 10:00:00",
                "pay_time": "2026-11-20 10:01:00",
                "update_time": "2026-11-20 10:01:00",
            },
            "buyer_info": {"buyer_phone": phone, "yz_open_id": open_id, "fans_nickname": "小梅"},
            "address_info": {"receiver_name": "林梅"},
            "orders": lines.iter().map(|(pid, vid, sku, title, qty, price)| json!({
                "item_id": pid,
                "sku_id": vid,
                "outer_sku_id": sku,
                "title": title,
                "num": qty,
                "price": price,
            })).collect::<Vec<_>>(),
            "pay_info": {"payment": payment, "total_fee": payment, "post_fee": "0.00"},
        }
    })
}

pub fn youzan_refund(tid: &str, refund_id: &str, fee: &str) -> Value {
    json!({"tid": tid, "oid": "1", "refund_id": refund_id, "refunded_fee": fee, "update_time": "2026-11-21 09:00:00"})
}

/// Youzan's envelope with `msg` URL-encoded, signed as MD5(client_id + body + secret).
pub fn youzan_request(
    shop: &str,
    kind: &str,
    business_id: &str,
    msg: &Value,
    secret: &str,
) -> Request {
    let encoded: String = form_urlencoded::byte_serialize(msg.to_string().as_bytes()).collect();
    let envelope = json!({
        "client_id": YOUZAN_CLIENT_ID,
        "id": business_id,
        "kdt_id": 10001,
        "kdt_name": "茶馆",
        "type": kind,
        "status": "",
        "msg": encoded,
        "version": 1_763_604_060,
        "mode": 1,
        "test": false,
        "sendCount": 0,
    });
    let body = serde_json::to_vec(&envelope).unwrap();
    let mut md5 = Md5::new();
    md5.update(YOUZAN_CLIENT_ID.as_bytes());
    md5.update(&body);
    md5.update(secret.as_bytes());
    let sign = hex::encode(md5.finalize());
    post(
        format!("/webhooks/youzan/{shop}"),
        &[
            ("content-type", "application/json".into()),
            ("event-sign", sign),
            ("event-type", kind.into()),
            ("client-id", YOUZAN_CLIENT_ID.into()),
        ],
        body,
    )
}

/// The same push signed by Youzan's older scheme: MD5 over the decoded `msg` only, so the
/// envelope (its `type` included) is not covered.
pub fn youzan_msg_signed_request(
    shop: &str,
    kind: &str,
    business_id: &str,
    msg: &Value,
    secret: &str,
) -> Request {
    let mut req = youzan_request(shop, kind, business_id, msg, secret);
    let mut md5 = Md5::new();
    md5.update(YOUZAN_CLIENT_ID.as_bytes());
    md5.update(msg.to_string().as_bytes());
    md5.update(secret.as_bytes());
    req.headers_mut()
        .insert("event-sign", hex::encode(md5.finalize()).parse().unwrap());
    req
}

// ---------------------------------------------------------------- Generic

pub fn generic_order(
    order_id: &str,
    status: &str,
    email: Option<&str>,
    phone: Option<&str>,
    total: &str,
) -> Value {
    json!({
        "order_id": order_id,
        "status": status,
        "updated_at": "2026-11-20T02:00:00Z",
        "placed_at": "2026-11-20T01:59:00Z",
        "currency": "CNY",
        "total": total,
        "customer": {"email": email, "phone": phone},
        "line_items": [{"product_id": "tea", "sku": "TEA-250G", "title": "Oolong", "quantity": 1, "unit_price": total}],
    })
}

pub fn generic_request(shop: &str, secret: &str, body: &[u8], timestamp: i64) -> Request {
    let ts = timestamp.to_string();
    let signature = hex::encode(hmac_sha256(secret, &[ts.as_bytes(), b".", body]));
    post(
        format!("/webhooks/generic/{shop}"),
        &[
            ("content-type", "application/json".into()),
            ("x-siyu-timestamp", ts),
            ("x-siyu-signature", signature),
        ],
        body.to_vec(),
    )
}

// ---------------------------------------------------------------- WeCom

pub const WECOM_CORP_ID: &str = "ww0123456789abcdef";
pub const WECOM_TOKEN: &str = "wecom-callback-token";
/// 43 characters: base64 of 32 key bytes without the trailing `=`.
pub const WECOM_AES_KEY: &str = "YWJjZGVmZ2hpamtsbW5vcHFyc3R1dnd4eXowMTIzNDU";

pub fn wecom_credentials() -> Value {
    json!({"corp_id": WECOM_CORP_ID, "token": WECOM_TOKEN, "encoding_aes_key": WECOM_AES_KEY})
}

/// Encrypts as WeCom does: random(16) + length(4, BE) + message + corp id, PKCS#7 to 32.
pub fn wecom_encrypt(message: &str, corp_id: &str) -> String {
    use cbc::cipher::block_padding::NoPadding;
    use cbc::cipher::{BlockEncryptMut, KeyIvInit};
    let key = base64::engine::general_purpose::STANDARD
        .decode(format!("{WECOM_AES_KEY}="))
        .unwrap();
    let mut plain = b"0123456789abcdef".to_vec();
    plain.extend_from_slice(&(message.len() as u32).to_be_bytes());
    plain.extend_from_slice(message.as_bytes());
    plain.extend_from_slice(corp_id.as_bytes());
    let pad = 32 - plain.len() % 32;
    plain.extend(std::iter::repeat_n(pad as u8, pad));
    let len = plain.len();
    let encrypted = cbc::Encryptor::<aes::Aes256>::new(key[..].into(), key[..16].into())
        .encrypt_padded_mut::<NoPadding>(&mut plain, len)
        .unwrap()
        .to_vec();
    base64::engine::general_purpose::STANDARD.encode(encrypted)
}

pub fn wecom_signature(timestamp: &str, nonce: &str, encrypted: &str) -> String {
    wecom_signature_with(WECOM_TOKEN, timestamp, nonce, encrypted)
}

/// WeCom's `msg_signature` with a callback token of one's choosing.
pub fn wecom_signature_with(token: &str, timestamp: &str, nonce: &str, encrypted: &str) -> String {
    use sha1::{Digest, Sha1};
    let mut parts = [token, timestamp, nonce, encrypted];
    parts.sort_unstable();
    hex::encode(Sha1::digest(parts.concat().as_bytes()))
}

/// Unix seconds now, as WeCom stamps a callback it sends now.
pub fn unix_now() -> String {
    jiff::Timestamp::now().as_second().to_string()
}

pub fn wecom_query(timestamp: &str, nonce: &str, encrypted: &str) -> String {
    form_urlencoded::Serializer::new(String::new())
        .append_pair(
            "msg_signature",
            &wecom_signature(timestamp, nonce, encrypted),
        )
        .append_pair("timestamp", timestamp)
        .append_pair("nonce", nonce)
        .finish()
}

/// The decrypted `add_external_contact` event.
pub fn wecom_add_contact_event(staff: &str, external: &str, state: &str) -> String {
    format!(
        "<xml><ToUserName><![CDATA[{WECOM_CORP_ID}]]></ToUserName><FromUserName><![CDATA[sys]]></FromUserName>\
         <CreateTime>1763780000</CreateTime><MsgType><![CDATA[event]]></MsgType>\
         <Event><![CDATA[change_external_contact]]></Event><ChangeType><![CDATA[add_external_contact]]></ChangeType>\
         <UserID><![CDATA[{staff}]]></UserID><ExternalUserID><![CDATA[{external}]]></ExternalUserID>\
         <State><![CDATA[{state}]]></State><WelcomeCode><![CDATA[WELCOMECODE]]></WelcomeCode></xml>"
    )
}

/// A callback POST carrying `encrypted`, signed with `signature_over` (normally the same),
/// stamped now.
pub fn wecom_callback(shop: &str, encrypted: &str, signature_over: &str) -> Request {
    wecom_callback_at(shop, encrypted, signature_over, &unix_now())
}

/// The same, stamped `timestamp` (Unix seconds).
pub fn wecom_callback_at(
    shop: &str,
    encrypted: &str,
    signature_over: &str,
    timestamp: &str,
) -> Request {
    let query = wecom_query(timestamp, "nonce123", signature_over);
    let body = format!(
        "<xml><ToUserName><![CDATA[{WECOM_CORP_ID}]]></ToUserName><Encrypt><![CDATA[{encrypted}]]></Encrypt><AgentID><![CDATA[1000002]]></AgentID></xml>"
    );
    post(
        format!("/wecom/{shop}?{query}"),
        &[("content-type", "text/xml".into())],
        body.into_bytes(),
    )
}

/// WeCom's own sample vector (`WXBizMsgCrypt` Sample.py): settings, a URL verification that
/// decrypts to `ECHO_PLAIN`, and an encrypted text message ("你好") from a member.
pub mod wecom_official {
    pub const CORP_ID: &str = "ww1436e0e65a779aee";
    pub const TOKEN: &str = "hJqcu3uJ9Tn2gXPmxx2w9kkCkCE2EPYo";
    /// Its last character carries non-zero trailing bits, as most console keys do.
    pub const ENCODING_AES_KEY: &str = "6qkdMrq68nTKduznJYO1A37W2oEgpkMUvkttRToqhUt";

    pub const VERIFY_SIGNATURE: &str = "012bc692d0a58dd4b10f8dfe5c4ac00ae211ebeb";
    pub const VERIFY_TIMESTAMP: &str = "1476416373";
    pub const VERIFY_NONCE: &str = "47744683";
    pub const ECHOSTR: &str =
        "fsi1xnbH4yQh0+PJxcOdhhK6TDXkjMyhEPA7xB2TGz6b+g7xyAbEkRxN/3cNXW9qdqjnoVzEtpbhnFyq6SVHyA==";
    pub const ECHO_PLAIN: &str = "1288432023552776189";

    pub const MESSAGE_SIGNATURE: &str = "0c3914025cb4b4d68103f6bfc8db550f79dcf48e";
    pub const MESSAGE_TIMESTAMP: &str = "1476422779";
    pub const MESSAGE_NONCE: &str = "1597212914";
    pub const MESSAGE_BODY: &str = "<xml><ToUserName><![CDATA[ww1436e0e65a779aee]]></ToUserName>\n<Encrypt><![CDATA[Kl7kjoSf6DMD1zh7rtrHjFaDapSCkaOnwu3bqLc5tAybhhMl9pFeK8NslNPVdMwmBQTNoW4mY7AIjeLvEl3NyeTkAgGzBhzTtRLNshw2AEew+kkYcD+Fq72Kt00fT0WnN87hGrW8SqGc+NcT3mu87Ha3dz1pSDi6GaUA6A0sqfde0VJPQbZ9U+3JWcoD4Z5jaU0y9GSh010wsHF8KZD24YhmZH4ch4Ka7ilEbjbfvhKkNL65HHL0J6EYJIZUC2pFrdkJ7MhmEbU2qARR4iQHE7wy24qy0cRX3Mfp6iELcDNfSsPGjUQVDGxQDCWjayJOpcwocugux082f49HKYg84EpHSGXAyh+/oxwaWbvL6aSDPOYuPDGOCI8jmnKiypE+]]></Encrypt>\n<AgentID><![CDATA[1000002]]></AgentID>\n</xml>";
}
