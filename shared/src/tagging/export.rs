//! CSV export of a segment's customers for WeCom group sends and SMS tools: RFC 4180 quoting,
//! UTF-8 with a byte-order mark so spreadsheet programs read Chinese names correctly, and
//! contact fields masked unless the caller's key may see them.

use crate::customers::Customer;
use crate::domain::money::format_minor;
use crate::domain::{Currency, Platform};
use crate::error::Error;

const HEADER: [&str; 14] = [
    "customer_id",
    "first_name",
    "last_name",
    "phone",
    "email",
    "wecom_external_id",
    "marketing_consent",
    "rfm_group",
    "super_user",
    "tags",
    "order_count",
    "net_spend",
    "currency",
    "last_order_at",
];

/// Whether contact fields are written in full or masked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Contacts {
    Masked,
    Full,
}

/// One page of customers as CSV; the header row starts every page, so each page opens on
/// its own.
pub fn customers_csv(
    customers: &[Customer],
    currency: Currency,
    contacts: Contacts,
) -> Result<Vec<u8>, Error> {
    let mut out = "\u{feff}".as_bytes().to_vec();
    {
        let mut writer = csv::WriterBuilder::new()
            .terminator(csv::Terminator::CRLF)
            .from_writer(&mut out);
        let fail = |e: csv::Error| Error::internal(format!("csv: {e}"));
        writer.write_record(HEADER).map_err(fail)?;
        for c in customers {
            writer
                .write_record(row(c, currency, contacts))
                .map_err(fail)?;
        }
        writer
            .flush()
            .map_err(|e| Error::internal(format!("csv: {e}")))?;
    }
    Ok(out)
}

fn row(c: &Customer, currency: Currency, contacts: Contacts) -> Vec<String> {
    let full = contacts == Contacts::Full;
    let phone = c.phone.as_ref().map(|p| {
        if full {
            p.as_str().to_string()
        } else {
            p.masked()
        }
    });
    let email = c.email.as_ref().map(|e| {
        if full {
            e.as_str().to_string()
        } else {
            e.masked()
        }
    });
    let wecom = c
        .platform_ids
        .iter()
        .find(|p| p.platform == Platform::Wecom)
        .map(|p| {
            let id = p.id.as_str();
            if full {
                id.to_string()
            } else {
                format!("{}***", id.chars().take(4).collect::<String>())
            }
        });
    let consent = match c.consent.marketing {
        Some(true) => "granted",
        Some(false) => "withdrawn",
        None => "unknown",
    };
    let tags: Vec<String> = c.tags.names().iter().map(|t| t.to_string()).collect();
    vec![
        c.id.to_string(),
        text_cell(c.first_name.as_deref().unwrap_or("")),
        text_cell(c.last_name.as_deref().unwrap_or("")),
        phone.unwrap_or_default(),
        text_cell(&email.unwrap_or_default()),
        text_cell(&wecom.unwrap_or_default()),
        consent.to_string(),
        c.rfm.map(|r| r.group.as_str()).unwrap_or("").to_string(),
        c.super_user.to_string(),
        text_cell(&tags.join(", ")),
        c.stats.order_count.to_string(),
        format_minor(c.stats.spend.get(&currency).copied().unwrap_or(0), currency),
        currency.to_string(),
        c.stats
            .last_order_at
            .map(|t| t.to_string())
            .unwrap_or_default(),
    ]
}

/// Free text that a spreadsheet would run as a formula (`=`, `+`, `-`, `@` first) gets a
/// leading apostrophe. Phone numbers are validated E.164 and are left as they are.
fn text_cell(value: &str) -> String {
    if value.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        format!("'{value}")
    } else {
        value.to_string()
    }
}
