//! What a channel is printed on or spoken through; customers remember the kind that
//! brought them, and rules can ask for it.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Where a channel code reaches people.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ChannelKind {
    PackageCard,
    Poster,
    Sms,
    Store,
    Staff,
    Livestream,
    Other,
}

impl ChannelKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ChannelKind::PackageCard => "package_card",
            ChannelKind::Poster => "poster",
            ChannelKind::Sms => "sms",
            ChannelKind::Store => "store",
            ChannelKind::Staff => "staff",
            ChannelKind::Livestream => "livestream",
            ChannelKind::Other => "other",
        }
    }
}
