//! A customer's order aggregates: each order's contribution applied once per intent, kept
//! per day for look-back windows, and the funnel step it marks.

use std::collections::BTreeMap;

use crate::domain::Currency;

use super::{
    max_opt, Contribution, Customer, DayActivity, FunnelDelta, Intent, ProductPurchase,
    ACTIVITY_DAYS, APPLIED_INTENTS_KEPT, FUNNEL_KEPT, PRODUCTS_KEPT,
};

impl Customer {
    pub fn has_applied(&self, intent: u64) -> bool {
        self.applied_intents.contains(&intent)
    }

    /// Applies an order's change of contribution unless this intent was applied before.
    /// `zone` is the shop's, for the day a captured customer's funnel change is counted on.
    pub fn apply_intent(&mut self, intent: &Intent, zone: &jiff::tz::TimeZone) -> bool {
        if self.has_applied(intent.id) {
            return false;
        }
        let orders_before = self.stats.order_count;
        self.remove_contribution(&intent.from);
        self.add_contribution(&intent.to);
        self.record_activity(&intent.from, -1, zone);
        self.record_activity(&intent.to, 1, zone);
        self.applied_intents.push_back(intent.id);
        while self.applied_intents.len() > APPLIED_INTENTS_KEPT {
            self.applied_intents.pop_front();
        }
        self.note_funnel(intent, orders_before, zone);
        true
    }

    /// Records how the intent moves the capture channel's funnel: first orders, repurchases
    /// (a second order) and revenue, on the day the order was placed.
    fn note_funnel(&mut self, intent: &Intent, orders_before: i64, zone: &jiff::tz::TimeZone) {
        let Some(capture) = &self.first_capture else {
            return;
        };
        let after = self.stats.order_count;
        let mut revenue = BTreeMap::new();
        if let Some(currency) = intent.from.currency {
            *revenue.entry(currency).or_insert(0) -= intent.from.net_minor;
        }
        if let Some(currency) = intent.to.currency {
            *revenue.entry(currency).or_insert(0) += intent.to.net_minor;
        }
        revenue.retain(|_, v| *v != 0);
        let delta = FunnelDelta {
            id: intent.id,
            channel: capture.channel.clone(),
            day: intent
                .to
                .ordered_at
                .or(intent.from.ordered_at)
                .unwrap_or(capture.at)
                .to_zoned(zone.clone())
                .date(),
            first_orders: i64::from(after >= 1) - i64::from(orders_before >= 1),
            repurchases: i64::from(after >= 2) - i64::from(orders_before >= 2),
            revenue,
        };
        if delta.first_orders != 0 || delta.repurchases != 0 || !delta.revenue.is_empty() {
            self.funnel_recent.push_back(delta);
            while self.funnel_recent.len() > FUNNEL_KEPT {
                self.funnel_recent.pop_front();
            }
        }
    }

    /// Moves a contribution into (`sign` 1) or out of (-1) the per-day history.
    fn record_activity(&mut self, c: &Contribution, sign: i64, zone: &jiff::tz::TimeZone) {
        let Some(at) = c.ordered_at else {
            return;
        };
        let day_key = at.to_zoned(zone.clone()).date();
        let day = self.activity.entry(day_key).or_default();
        if c.counted {
            day.orders += sign;
        }
        if let Some(currency) = c.currency {
            let spend = day.spend.entry(currency).or_insert(0);
            *spend += sign * c.net_minor;
            if *spend == 0 {
                day.spend.remove(&currency);
            }
        }
        if day.orders == 0 && day.spend.is_empty() {
            self.activity.remove(&day_key);
        }
        if let Some(latest) = self.activity.keys().next_back().copied() {
            let horizon = latest
                .checked_sub(jiff::Span::new().days(ACTIVITY_DAYS))
                .unwrap_or(jiff::civil::Date::MIN);
            self.activity = self.activity.split_off(&horizon);
        }
    }

    /// Per-day history from `from` on.
    pub fn activity_since(
        &self,
        from: jiff::civil::Date,
    ) -> impl Iterator<Item = (&jiff::civil::Date, &DayActivity)> {
        self.activity.range(from..)
    }

    /// The funnel change an intent made, if any.
    pub fn funnel_delta(&self, intent: u64) -> Option<&FunnelDelta> {
        self.funnel_recent.iter().find(|d| d.id == intent)
    }

    fn remove_contribution(&mut self, c: &Contribution) {
        if c.counted {
            self.stats.order_count -= 1;
        }
        if let Some(currency) = c.currency {
            self.adjust_spend(currency, -c.net_minor);
        }
        for item in &c.items {
            if let Some(pos) = self.products.iter().position(|p| p.product == item.product) {
                self.products[pos].quantity -= item.quantity;
                if self.products[pos].quantity <= 0 {
                    self.products.remove(pos);
                }
            }
        }
    }

    fn add_contribution(&mut self, c: &Contribution) {
        if c.counted {
            self.stats.order_count += 1;
            if let Some(at) = c.ordered_at {
                self.stats.first_order_at =
                    Some(self.stats.first_order_at.map_or(at, |f| f.min(at)));
                self.stats.last_order_at = Some(self.stats.last_order_at.map_or(at, |l| l.max(at)));
            }
        }
        if let Some(currency) = c.currency {
            self.adjust_spend(currency, c.net_minor);
        }
        for item in &c.items {
            match self.products.iter_mut().find(|p| p.product == item.product) {
                Some(p) => {
                    p.quantity += item.quantity;
                    if item.title.is_some() {
                        p.title = item.title.clone();
                    }
                    p.last_purchased_at = max_opt(p.last_purchased_at, c.ordered_at);
                }
                None => self.products.push(ProductPurchase {
                    product: item.product.clone(),
                    title: item.title.clone(),
                    quantity: item.quantity,
                    last_purchased_at: c.ordered_at,
                }),
            }
        }
        if self.products.len() > PRODUCTS_KEPT {
            self.products
                .sort_by_key(|p| std::cmp::Reverse(p.last_purchased_at));
            self.products.truncate(PRODUCTS_KEPT);
        }
    }

    fn adjust_spend(&mut self, currency: Currency, delta: i64) {
        let entry = self.stats.spend.entry(currency).or_insert(0);
        *entry += delta;
        if *entry == 0 {
            self.stats.spend.remove(&currency);
        }
    }
}
