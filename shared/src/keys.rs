//! Every store key Siyu writes, in one place. All shop data lives under `s/{shop}/`, so a
//! request that knows only its own shop id cannot name another shop's records.

use crate::domain::ids::ExternalId;
use crate::domain::{CampaignId, ChannelId, CouponCode, CustomerId, Platform, ShopId};

pub fn shop(shop: &ShopId) -> String {
    format!("s/{shop}/shop")
}

pub fn customer(shop: &ShopId, customer: &CustomerId) -> String {
    format!("s/{shop}/c/{customer}")
}

/// Identity index: keyed hash of a phone, email or platform customer id → customer id.
pub fn identity(shop: &ShopId, identity_hash: &str) -> String {
    format!("s/{shop}/i/{identity_hash}")
}

pub fn order(shop: &ShopId, platform: Platform, order_id: &ExternalId) -> String {
    format!("s/{shop}/o/{}/{}", platform.as_str(), order_id.key_part())
}

/// Marks a privacy data request as recorded, so a redelivery is not listed twice.
pub fn data_request(shop: &ShopId, request_id: &ExternalId) -> String {
    format!("s/{shop}/dr/{}", request_id.key_part())
}

pub fn channel(shop: &ShopId, channel: &ChannelId) -> String {
    format!("s/{shop}/ch/{channel}")
}

/// A channel's public code → its `ScanTarget`. Global: the scan URL names no shop.
pub fn scan_target(code: &str) -> String {
    format!("q/{code}")
}

/// A channel's counter for one day (`scans`, `uniques`) in the shop's zone.
pub fn channel_day(
    shop: &ShopId,
    channel: &ChannelId,
    counter: &str,
    day: jiff::civil::Date,
) -> String {
    format!("s/{shop}/ch/{channel}/{counter}/{day}")
}

/// Marks a customer as a lead of a channel (written once).
pub fn channel_lead(shop: &ShopId, channel: &ChannelId, customer: &CustomerId) -> String {
    format!("s/{shop}/ch/{channel}/lead/{customer}")
}

/// Marks that a returning person's welcome coupon of a channel was delivered (written once).
pub fn welcome_coupon_sent(shop: &ShopId, channel: &ChannelId, customer: &CustomerId) -> String {
    format!("s/{shop}/ch/{channel}/wcs/{customer}")
}

/// A channel's leads on one day (a small record, updated by compare-and-swap).
pub fn channel_leads_day(shop: &ShopId, channel: &ChannelId, day: jiff::civil::Date) -> String {
    format!("s/{shop}/ch/{channel}/leads/{day}")
}

/// The `rate_limit` records of lead submissions of one client (keyed hash) to one code
/// (the window is appended).
pub fn rate_limit(shop: &ShopId, code: &str, client_hash: &str) -> String {
    format!("s/{shop}/rl/{code}/{client_hash}")
}

/// The phone verification code sent to a number (keyed hash) for a shop's sign-ups in one
/// hour (Unix hours): a past hour's record is never written again, so it expires safely.
pub fn phone_challenge(shop: &ShopId, phone_hash: &str, hour: i64) -> String {
    format!("s/{shop}/pv/{phone_hash}/{hour}")
}

/// The `rate_limit` records of codes a shop sent to one number or to one client address
/// (`who`: a keyed hash with its kind prefix).
pub fn phone_code_count(shop: &ShopId, who: &str) -> String {
    format!("s/{shop}/pvc/{who}")
}

/// The `rate_limit` records of one API key's customer look-ups.
pub fn lookup_count(shop: &ShopId, key_id: &str) -> String {
    format!("s/{shop}/lk/{key_id}")
}

/// Records that expire in one hour (Unix hours): a counter and one slot per key to delete.
pub fn expiry_counter(shop: &ShopId, hour: i64) -> String {
    format!("s/{shop}/ex/{hour}/n")
}

pub fn expiry_slot(shop: &ShopId, hour: i64, slot: i64) -> String {
    format!("s/{shop}/ex/{hour}/{slot}")
}

/// Where the sweep of a shop's expired records stands.
pub fn expiry_cursor(shop: &ShopId) -> String {
    format!("s/{shop}/ex/cursor")
}

/// Every shop, in creation order: the scheduler's list (a counter and one slot per shop).
pub const SHOPS_COUNTER: &str = "shops/n";

pub fn shops_slot(slot: i64) -> String {
    format!("shops/{slot}")
}

/// Where the next scheduler call starts in the list of shops (fairness across calls).
pub const JOBS_NEXT: &str = "jobs/next";
/// The last scheduler calls: when, how long, what they left (`jobs::status`).
pub const JOBS_STATUS: &str = "jobs/status";
/// Who holds the redaction job now (a lease).
pub const JOBS_REDACTIONS_LEASE: &str = "jobs/redactions/lease";
/// When the next background slice is due and who runs it (`jobs::background`).
pub const JOBS_BACKGROUND: &str = "jobs/background";

/// Who is running a shop's periodic work now (a lease).
pub fn shop_jobs_lease(shop: &ShopId) -> String {
    format!("s/{shop}/jobs/lease")
}

/// How a shop's periodic work last went, per job.
pub fn shop_jobs_status(shop: &ShopId) -> String {
    format!("s/{shop}/jobs/status")
}

/// Whether a customer is in a segment, and the slot of the segment's list that lists them.
pub fn segment_member(shop: &ShopId, segment: &str, customer: &CustomerId) -> String {
    format!("s/{shop}/sg/{segment}/m/{customer}")
}

/// How many customers a segment has (a counter).
pub fn segment_count(shop: &ShopId, segment: &str) -> String {
    format!("s/{shop}/sg/{segment}/n")
}

/// A tag's first-seen spelling; written once, when the tag is first held by anyone.
pub fn segment_meta(shop: &ShopId, segment: &str) -> String {
    format!("s/{shop}/sg/{segment}/meta")
}

/// Rules and RFM settings of a shop: one record, read once per customer change.
pub fn tagging_config(shop: &ShopId) -> String {
    format!("s/{shop}/tagging")
}

/// Progress of the scheduled re-evaluation of every customer.
pub fn tagging_pass(shop: &ShopId) -> String {
    format!("s/{shop}/tagging/pass")
}

/// A coupon campaign.
pub fn campaign(shop: &ShopId, campaign: &CampaignId) -> String {
    format!("s/{shop}/cp/{campaign}")
}

/// A campaign's counters that gate (`quota`, `pool`, `redeemed`): atomic increments.
pub fn campaign_counter(shop: &ShopId, campaign: &CampaignId, counter: &str) -> String {
    format!("s/{shop}/cp/{campaign}/n/{counter}")
}

/// A campaign's statistics (issued, redeemed, revenue per currency): atomic increments.
pub fn campaign_stat(shop: &ShopId, campaign: &CampaignId, stat: &str) -> String {
    format!("s/{shop}/cp/{campaign}/st/{stat}")
}

/// What one customer holds of a campaign (coupons, or a shared code's redemptions).
pub fn campaign_holdings(shop: &ShopId, campaign: &CampaignId, customer: &CustomerId) -> String {
    format!("s/{shop}/cp/{campaign}/h/{customer}")
}

/// One issue request's progress under its idempotency key (hashed).
pub fn issue_idempotency(shop: &ShopId, campaign: &CampaignId, key_hash: &str) -> String {
    format!("s/{shop}/cp/{campaign}/i/{key_hash}")
}

/// A print batch of a campaign.
pub fn print_batch(shop: &ShopId, campaign: &CampaignId, name: &str) -> String {
    format!("s/{shop}/cp/{campaign}/b/{name}")
}

/// The code at one position of a print batch (written once).
pub fn print_batch_slot(shop: &ShopId, campaign: &CampaignId, name: &str, index: i64) -> String {
    format!("s/{shop}/cp/{campaign}/b/{name}/{index}")
}

/// A coupon by its code (upper case): codes are unique in a shop.
pub fn coupon(shop: &ShopId, code: &CouponCode) -> String {
    format!("s/{shop}/cpn/{code}")
}

/// One order's use of a shared code.
pub fn shared_use(shop: &ShopId, code: &CouponCode, order_hash: &str) -> String {
    format!("s/{shop}/cpn/{code}/u/{order_hash}")
}

/// Campaigns that issue a coupon when a customer gains a tag.
pub fn coupon_triggers(shop: &ShopId) -> String {
    format!("s/{shop}/cp-triggers")
}

/// A shop's reminder settings and delivery secret.
pub fn reminder_settings(shop: &ShopId) -> String {
    format!("s/{shop}/rm/settings")
}

/// A customer's reminders about one product (see `reminders::product_key`).
pub fn reminder_schedule(shop: &ShopId, customer: &CustomerId, product: &str) -> String {
    format!("s/{shop}/rm/c/{customer}/{product}")
}

/// A shop's reminder steps due in one hour (Unix hours): a counter and slots.
pub fn reminder_queue_counter(shop: &ShopId, hour: i64) -> String {
    format!("s/{shop}/rq/{hour}/n")
}

pub fn reminder_queue_slot(shop: &ShopId, hour: i64, slot: i64) -> String {
    format!("s/{shop}/rq/{hour}/{slot}")
}

/// Where a shop's dispatch stands in its queue; written when the shop first queues.
pub fn reminder_cursor(shop: &ShopId) -> String {
    format!("s/{shop}/rq/cursor")
}

/// When a customer was last sent a message (frequency cap).
pub fn reminder_last_sent(shop: &ShopId, customer: &CustomerId) -> String {
    format!("s/{shop}/rm/last/{customer}")
}

/// A reminder statistic of a shop (`product` None) or of one product: a counter.
pub fn reminder_stat(shop: &ShopId, product: Option<&str>, stat: &str) -> String {
    match product {
        Some(p) => format!("s/{shop}/rm/st/{p}/{stat}"),
        None => format!("s/{shop}/rm/st/all/{stat}"),
    }
}

/// Marks that a product of the shop has reminder statistics (written once).
pub fn reminder_product(shop: &ShopId, product: &str) -> String {
    format!("s/{shop}/rm/p/{product}")
}

/// Shops that have queued reminders: a global list walked by the scheduler's dispatch.
pub const REMINDER_SHOPS_COUNTER: &str = "rq-shops/n";
/// Counts dispatch calls over every shop, so each call starts with the next shop in turn.
pub const REMINDER_DISPATCH_ROUND: &str = "rq-shops/round";

pub fn reminder_shops_slot(slot: i64) -> String {
    format!("rq-shops/{slot}")
}

/// A shop's redaction in progress (`shops::redaction`).
pub fn redaction(shop: &ShopId) -> String {
    format!("s/{shop}/redaction")
}

/// Shops with a redaction: a global list the scheduler walks, and the first slot that may
/// still be unfinished.
pub const REDACTIONS_COUNTER: &str = "redactions/n";
pub const REDACTIONS_FIRST: &str = "redactions/first";

pub fn redactions_slot(slot: i64) -> String {
    format!("redactions/{slot}")
}

/// An append-only list: a counter and one write-once key per slot (no value ever grows).
pub fn list_counter(shop: &ShopId, list: &str) -> String {
    format!("s/{shop}/l/{list}/n")
}

pub fn list_slot(shop: &ShopId, list: &str, slot: i64) -> String {
    format!("s/{shop}/l/{list}/{slot}")
}

/// The names of the append-only lists.
pub mod lists {
    /// Every customer of the shop, in creation order: lets batch jobs walk customers.
    pub const CUSTOMERS: &str = "customers";
    /// Privacy data requests (Shopify `customers/data_request`).
    pub const DATA_REQUESTS: &str = "data-requests";
    /// The shop's channel codes, in creation order.
    pub const CHANNELS: &str = "channels";
    /// Every tag any customer of the shop has held, first spelling.
    pub const TAGS: &str = "tags";
    /// The shop's security log (`shops::audit`).
    pub const AUDIT: &str = "audit";

    /// The shop's coupon campaigns, in creation order.
    pub const CAMPAIGNS: &str = "campaigns";

    /// Products with reminder statistics, in the order first planned.
    pub const REMINDER_PRODUCTS: &str = "rm-products";

    /// The products a customer has reminder schedules for.
    pub fn customer_reminders(customer: &crate::domain::CustomerId) -> String {
        format!("rm/{customer}")
    }

    /// The coupons issued to a customer, in the order issued.
    pub fn customer_coupons(customer: &crate::domain::CustomerId) -> String {
        format!("cus-coupons/{customer}")
    }

    /// A pool campaign's imported codes, in the order they are handed out.
    pub fn pool(campaign: &crate::domain::CampaignId) -> String {
        format!("cp/{campaign}/pool")
    }

    /// A segment's members, in the order they (last) joined; see `segments`.
    pub fn segment(segment_key: &str) -> String {
        format!("sg/{segment_key}")
    }
}
