//! The scenarios, written once against `Client` and run in-process (tests/foundation.rs),
//! through the `.wasm` components in the wasm host (tests/wasm.rs) and under a real
//! `spin up` with each store (tests/real_spin.rs). `$runner!(scenario, …)` gets the lists.

use http::Method;
use serde_json::Value;

use crate::app::{request, TestShop};
use crate::client::Client;
use crate::platforms::*;

mod api_contract;
mod attacks;
mod coupons;
mod deployments;
mod ingest;
mod lead_capture;
mod phone_verification;
mod privacy;
mod races;
mod reminders;
mod scheduler;
mod shopper_pages;
mod shops;
mod tagging;

pub use api_contract::*;
pub use attacks::*;
pub use coupons::*;
pub use deployments::*;
pub use ingest::*;
pub use lead_capture::*;
pub use phone_verification::*;
pub use privacy::*;
pub use races::*;
pub use reminders::*;
pub use scheduler::*;
pub use shopper_pages::*;
pub use shops::*;
pub use tagging::*;

/// Every scenario that runs on the real clock: run by every runner, real `spin up` included.
/// Each takes only a `&dyn Client`.
#[macro_export]
macro_rules! each_scenario {
    ($runner:ident) => {
        $runner!(
            only_the_operator_creates_shops_and_keys_are_shown_once,
            shop_settings_are_validated_and_updated,
            a_signed_shopify_order_creates_the_customer,
            shopify_accepts_both_rotation_secrets_and_refuses_forgeries,
            woocommerce_ping_orders_and_forgeries,
            youzan_messages_are_decoded_acknowledged_and_verified,
            youzan_older_scheme_signing_the_decoded_msg_is_accepted,
            platform_payloads_are_read_as_the_platforms_send_them,
            generic_format_is_signed_and_replay_protected,
            duplicate_deliveries_change_nothing_the_second_time,
            a_refund_arriving_before_its_paid_event_ends_with_the_right_totals,
            older_retries_do_not_undo_newer_state,
            an_unpaid_order_counts_once_it_is_paid,
            the_same_person_on_shopify_and_youzan_is_one_customer,
            orders_without_identity_are_recorded_without_a_customer,
            erasure_removes_personal_data_and_keeps_anonymous_aggregates,
            shopify_privacy_webhooks_erase_record_and_close,
            one_shop_never_sees_or_changes_another_shops_data,
            bad_input_gets_a_clear_json_error_and_writes_nothing,
            the_api_contract_is_served_and_what_fuzzing_found_stays_fixed,
            customer_webhooks_create_profiles_that_orders_join,
            closed_and_deleted_orders_stop_counting,
            channels_are_created_validated_listed_and_isolated,
            a_scan_is_counted_and_redirected_with_attribution,
            unknown_and_retired_codes_get_a_friendly_page,
            a_lead_becomes_a_tagged_customer_once,
            leads_without_consent_or_identity_are_refused,
            the_hosted_form_signs_people_up_without_javascript,
            shopper_pages_show_the_shops_branding_and_the_channels_page,
            phone_codes_prove_the_number_before_the_lead_is_recorded,
            codes_are_limited_per_client_address,
            the_hosted_form_verifies_numbers_without_javascript,
            lead_bursts_from_one_address_are_rate_limited,
            qr_images_scan_back_to_the_channel_url,
            wecom_contacts_added_through_a_channel_become_its_leads,
            wecoms_official_sample_is_verified_and_acknowledged,
            a_channels_funnel_follows_its_leads_orders,
            deleted_channels_disappear_and_their_codes_retire,
            scans_count_on_the_shops_day_after_a_time_zone_change,
            // The attack suite (issue 21): each an attack that once went through.
            a_signed_webhook_re_posted_under_another_topic_changes_nothing,
            a_re_posted_delivery_id_cannot_hide_a_genuine_delivery,
            a_key_without_scopes_cannot_redirect_messages_or_unmask_numbers,
            delivery_urls_never_reach_metadata_and_a_hanging_receiver_is_cut_off,
            a_shop_caps_the_codes_strangers_can_make_it_send,
            a_shop_redaction_erases_every_customer_however_many,
            rotating_the_owner_key_revokes_every_other_key,
            head_requests_look_at_a_code_without_counting,
            weak_secrets_and_unasked_fields_are_refused,
            health_says_the_store_answers,
        );
    };
}

/// Scenarios that carry the test clock (`Client::call_at`) out of habit: their outcome does
/// not depend on the day they play, so real Spin runs them on the real clock
/// (`spin_up::RealClock`).
#[macro_export]
macro_rules! each_clock_tolerant_scenario {
    ($runner:ident) => {
        $runner!(
            a_stranger_who_knows_a_customers_number_cannot_take_over_or_see_it,
            a_checkout_with_someone_elses_number_does_not_rewrite_them,
            attributes_are_validated,
            campaigns_are_validated_and_each_discount_type_priced,
            csv_export_opens_in_a_spreadsheet,
            issuing_keeps_idempotency_keys_limits_and_eligibility,
            manual_tags_merge_ignore_case_and_keep_their_limits,
            pool_codes_are_imported_once_and_handed_out_once,
            print_batches_are_resumable_and_stable,
            reminder_settings_are_validated_and_the_secret_is_shown_once,
            rules_are_validated_on_save_and_write_nothing_when_wrong,
            unsubscribe_links_withdraw_consent_and_cancel_reminders,
        );
    };
}

/// Scenarios that play other days through the test clock (`Client::call_at`): run
/// in-process and in the wasm host, whose clocks tests may set; real Spin serves the real one.
#[macro_export]
macro_rules! each_clocked_scenario {
    ($runner:ident) => {
        $runner!(
            each_condition_type_tags_the_right_customers,
            remove_rules_win_and_a_refund_below_the_threshold_drops_the_tag,
            time_based_rules_flip_after_the_scheduled_pass,
            a_changed_rule_reaches_existing_customers_through_the_pass,
            rfm_groups_follow_recency_frequency_and_spend,
            shopify_customer_tags_are_imported_with_their_source,
            every_rejection_reason_is_reported,
            orders_redeem_coupons_on_every_platform_and_refunds_roll_back,
            welcome_and_tag_coupons_are_issued_once,
            paid_orders_plan_reminders_and_cancellations_cancel_them,
            due_reminders_are_delivered_once_signed_and_merged,
            quiet_hours_and_the_frequency_cap_defer_then_send,
            a_receiver_that_is_down_gets_retries_then_the_message_fails,
            a_follow_up_carries_the_campaigns_coupon,
            phone_codes_expire_and_numbers_get_five_an_hour,
        );
    };
}

pub const PHONE: &str = "+8613812345678";

pub fn mei() -> Buyer {
    Buyer {
        platform_id: Some(5001),
        email: Some("Mei.Lin@Example.com"),
        phone: Some(PHONE),
    }
}

/// `PATCH /api/shop` with the shop's own key: (status, answer).
pub fn patch_shop(app: &dyn Client, shop: &TestShop, patch: &Value) -> (u16, Value) {
    app.call(request(
        Method::PATCH,
        "/api/shop",
        Some(&shop.api_key),
        patch.to_string().into_bytes(),
    ))
}

pub fn customer_by_phone(app: &dyn Client, shop: &TestShop, phone: &str) -> (u16, Value) {
    let query: String = form_urlencoded::Serializer::new(String::new())
        .append_pair("phone", phone)
        .finish();
    app.get(&format!("/api/customers?{query}"), &shop.api_key)
}

/// Mei's paid, standing order count as the API shows it.
pub fn order_count_of_mei(app: &dyn Client, shop: &TestShop) -> Value {
    customer_by_phone(app, shop, PHONE).1["orders"]["order_count"].clone()
}

pub fn send_shopify(
    app: &dyn Client,
    shop: &TestShop,
    topic: &str,
    body: &Value,
    webhook_id: &str,
) -> (u16, Value) {
    app.call(shopify_request(
        &shop.id,
        topic,
        body,
        SHOPIFY_SECRET,
        webhook_id,
    ))
}
