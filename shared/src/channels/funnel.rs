//! A channel's funnel: what the customers it captured went on to do (first orders,
//! repurchases, revenue), counted on the day of each order once per settlement intent, and
//! rolled up with scans and leads into the numbers a merchant compares channels by.

use std::collections::{BTreeMap, VecDeque};

use jiff::civil::Date;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::Channel;
use crate::customers::FunnelDelta;
use crate::domain::{ChannelId, Currency, ShopId};
use crate::error::{Error, ErrorCode};
use crate::keys;
use crate::store::{get_json, update_json, Change, Store};

/// Longest stats window one request may roll up.
const MAX_STATS_DAYS: i32 = 366;

/// What a channel's captured customers did on one day, counted once per intent.
#[derive(Debug, Default, Serialize, Deserialize, JsonSchema)]
struct FunnelDay {
    first_orders: i64,
    repurchases: i64,
    revenue: BTreeMap<Currency, i64>,
    applied: VecDeque<u64>,
}

/// Intent ids a funnel day remembers, so a retried settlement is counted once.
const FUNNEL_APPLIED_KEPT: usize = 256;

/// Adds a captured customer's funnel change to the channel's day.
pub fn record_funnel(store: &dyn Store, shop: &ShopId, delta: &FunnelDelta) -> Result<(), Error> {
    let key = keys::channel_day(shop, &delta.channel, "funnel", delta.day);
    update_json(store, &key, |current: Option<FunnelDay>| {
        let mut day = current.unwrap_or_default();
        if day.applied.contains(&delta.id) {
            return Ok::<_, Error>(Change::Keep(()));
        }
        day.first_orders += delta.first_orders;
        day.repurchases += delta.repurchases;
        for (currency, amount) in &delta.revenue {
            *day.revenue.entry(*currency).or_insert(0) += amount;
        }
        day.revenue.retain(|_, v| *v != 0);
        day.applied.push_back(delta.id);
        while day.applied.len() > FUNNEL_APPLIED_KEPT {
            day.applied.pop_front();
        }
        Ok(Change::Write(day, ()))
    })
}

/// A channel's numbers over a day or a window.
#[derive(Debug, Default, Serialize, JsonSchema)]
pub struct ChannelNumbers {
    pub scans: i64,
    pub unique_scanners: i64,
    pub leads: i64,
    /// Leads who placed their first order.
    pub first_orders: i64,
    /// Leads who placed their second order.
    pub repurchases: i64,
    /// Net revenue of the channel's leads' orders, per currency.
    pub revenue: BTreeMap<Currency, i64>,
}

impl ChannelNumbers {
    fn add(&mut self, other: &ChannelNumbers) {
        self.scans += other.scans;
        self.unique_scanners += other.unique_scanners;
        self.leads += other.leads;
        self.first_orders += other.first_orders;
        self.repurchases += other.repurchases;
        for (currency, amount) in &other.revenue {
            *self.revenue.entry(*currency).or_insert(0) += amount;
        }
        self.revenue.retain(|_, v| *v != 0);
    }
}

/// One day of a channel's numbers (funnel events on the day the order was placed).
#[derive(Debug, Serialize, JsonSchema)]
pub struct DayStats {
    pub date: Date,
    #[serde(flatten)]
    pub numbers: ChannelNumbers,
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct ChannelStats {
    pub channel: ChannelId,
    pub from: Date,
    pub to: Date,
    #[serde(flatten)]
    pub totals: ChannelNumbers,
    pub days: Vec<DayStats>,
}

/// Rolls the day counters of `from..=to` up (at most 366 days).
pub fn stats(
    store: &dyn Store,
    shop: &ShopId,
    channel: &Channel,
    from: Date,
    to: Date,
) -> Result<ChannelStats, Error> {
    if to < from {
        return Err(Error::malformed(
            ErrorCode::InvalidQuery,
            "from must not be after to",
        ));
    }
    let span = from.until(to).map(|s| s.get_days()).unwrap_or(i32::MAX);
    if span >= MAX_STATS_DAYS {
        return Err(Error::malformed(
            ErrorCode::InvalidQuery,
            format!("a stats window spans at most {MAX_STATS_DAYS} days"),
        ));
    }
    let mut days = Vec::new();
    let mut day = from;
    loop {
        let scans = store.counter(&keys::channel_day(shop, &channel.id, "scans", day))?;
        let unique_scanners =
            store.counter(&keys::channel_day(shop, &channel.id, "uniques", day))?;
        let funnel: FunnelDay =
            get_json(store, &keys::channel_day(shop, &channel.id, "funnel", day))?
                .unwrap_or_default();
        days.push(DayStats {
            date: day,
            numbers: ChannelNumbers {
                scans,
                unique_scanners,
                leads: crate::channels::leads::leads_on(store, shop, &channel.id, day)?,
                first_orders: funnel.first_orders,
                repurchases: funnel.repurchases,
                revenue: funnel.revenue,
            },
        });
        if day >= to {
            break;
        }
        day = day
            .tomorrow()
            .map_err(|_| Error::malformed(ErrorCode::InvalidQuery, "date out of range"))?;
    }
    Ok(ChannelStats {
        channel: channel.id.clone(),
        from,
        to,
        totals: days
            .iter()
            .fold(ChannelNumbers::default(), |mut totals, d| {
                totals.add(&d.numbers);
                totals
            }),
        days,
    })
}
