//! Parse-don't-validate value types: once a value of these types exists, it is valid.

pub mod channel;
pub mod contact;
pub mod ids;
pub mod money;
pub mod text;
pub mod time;
pub mod web_url;

pub use channel::ChannelKind;
pub use contact::{EmailAddress, PhoneNumber};
pub use ids::{CampaignId, ChannelId, CouponCode, CustomerId, Platform, RuleId, ShopId};
pub use money::{Currency, MinorUnits};
pub use web_url::WebUrl;
