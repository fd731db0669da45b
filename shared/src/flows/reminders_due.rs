//! Reminders fall due: the reminders feature picks, suppresses and delivers them; a
//! follow-up that names a campaign carries a coupon, issued here from that campaign (once
//! per customer, product and plan version: the idempotency key says so).

use jiff::Timestamp;

use crate::coupons;
use crate::domain::{CampaignId, CustomerId, ShopId};
use crate::reminders::{FollowUpCoupons, MessageCoupon};
use crate::store::Store;

/// Follow-up coupons issued from the shop's campaigns.
pub struct CampaignCoupons<'a> {
    pub store: &'a dyn Store,
}

impl FollowUpCoupons for CampaignCoupons<'_> {
    fn issue(
        &self,
        shop: &ShopId,
        campaign: &str,
        customer: &CustomerId,
        key: &str,
        now: Timestamp,
    ) -> Option<MessageCoupon> {
        // A campaign that refuses (or a store that fails) leaves the message without one.
        let campaign = CampaignId::parse(campaign)?;
        let coupon = coupons::issue(self.store, shop, &campaign, customer, Some(key), now).ok()?;
        Some(MessageCoupon {
            code: coupon.code,
            valid_until: coupon.valid_until,
        })
    }
}
