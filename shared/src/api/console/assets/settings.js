// Settings: the shop's name, zone, currency and calling code; platform credentials (write
// only: the API says whether each is set, never what it is); the webhook URL of each
// platform to copy; and, for the owner key only, the shop's further API keys.

import { h, field, input, checkbox, copyable, plainTable, formValues, list, replace } from './dom.js';
import { t, dateTime } from './i18n.js';
import { getJson, sendJson, session } from './api.js';

export async function render(view) {
  const shop = await getJson('/api/shop');
  session.remember(shop);
  const c = shop.credentials;
  const isSet = (yes) => (yes ? t('settings.set') : t('settings.notSet'));
  const shopForm = h('form', { class: 'card', id: 'shop-form' },
    field(t('common.name'), input({ name: 'name', required: true, value: shop.name })),
    field(t('settings.zone'), input({ name: 'time_zone', required: true, value: shop.time_zone })),
    field(t('settings.currency'), input({ name: 'currency', required: true, maxlength: 3, value: shop.currency })),
    field(t('settings.callingCode'), input({ name: 'default_calling_code', required: true, value: shop.default_calling_code })),
    h('p', { class: 'actions' }, h('button', { type: 'submit' }, t('common.save'))));
  shopForm.addEventListener('submit', async (event) => {
    event.preventDefault();
    const saved = await view.attempt(() => sendJson('PATCH', '/api/shop', formValues(shopForm)));
    if (saved) { await render(view); view.notify(t('common.saved')); }
  });

  // What shoppers see on the sign-up, thank-you and error pages, and what the notice states.
  const b = shop.branding || {};
  const brandingForm = h('form', { class: 'card', id: 'branding-form' },
    field(t('settings.displayName'), input({ name: 'display_name', maxlength: 60, value: b.display_name, placeholder: shop.name })),
    field(t('settings.logo'), input({ name: 'logo_url', type: 'url', value: b.logo_url, placeholder: 'https://' })),
    field(t('settings.accent'), input({ name: 'accent_color', type: 'color', value: b.accent_color || '#0b6bcb' })),
    field(t('settings.privacy'), input({ name: 'privacy_policy_url', type: 'url', value: b.privacy_policy_url, placeholder: 'https://' })),
    field(t('settings.retention'), input({ name: 'retention_months', type: 'number', min: 1, max: 120, value: b.retention_months ?? 36 })),
    h('p', { class: 'actions' }, h('button', { type: 'submit', id: 'save-branding' }, t('common.save'))));
  brandingForm.addEventListener('submit', async (event) => {
    event.preventDefault();
    const v = formValues(brandingForm);
    const branding = {
      display_name: v.display_name || null, logo_url: v.logo_url || null, accent_color: v.accent_color,
      privacy_policy_url: v.privacy_policy_url || null, retention_months: v.retention_months ? Number(v.retention_months) : null,
    };
    if (await view.attempt(() => sendJson('PATCH', '/api/shop', { branding }))) { await render(view); view.notify(t('common.saved')); }
  });

  const secret = (name, label, state) => field(`${label} (${state})`,
    input({ name, type: 'password', autocomplete: 'off', placeholder: t('settings.leaveEmpty') }));
  const credentialsForm = h('form', { class: 'card', id: 'credentials-form' },
    secret('shopify', t('settings.shopify'), `${c.shopify_secrets}`),
    field(`${t('settings.shopifyDomain')} (${c.shopify_shop_domain || t('settings.notSet')})`, input({ name: 'shopify_domain', autocomplete: 'off', placeholder: 'tea-house.myshopify.com' })),
    secret('woocommerce', t('settings.woocommerce'), isSet(c.woocommerce_secret)),
    field(`${t('settings.youzanId')} (${c.youzan ? c.youzan.client_id : t('settings.notSet')})`, input({ name: 'youzan_id', autocomplete: 'off' })),
    secret('youzan_secret', t('settings.youzanSecret'), isSet(c.youzan)),
    secret('generic', t('settings.generic'), isSet(c.generic_secret)),
    field(`${t('settings.wecomCorp')} (${c.wecom ? c.wecom.corp_id : t('settings.notSet')})`, input({ name: 'wecom_corp', autocomplete: 'off' })),
    secret('wecom_token', t('settings.wecomToken'), isSet(c.wecom)),
    secret('wecom_key', t('settings.wecomKey'), isSet(c.wecom)),
    h('p', { class: 'actions' }, h('button', { type: 'submit' }, t('common.save'))));
  credentialsForm.addEventListener('submit', async (event) => {
    event.preventDefault();
    const v = formValues(credentialsForm);
    // Only what was typed is sent: an empty field keeps what is stored.
    const credentials = {};
    if (v.shopify) credentials.shopify_secrets = list(v.shopify);
    if (v.shopify_domain) credentials.shopify_shop_domain = v.shopify_domain.trim();
    if (v.woocommerce) credentials.woocommerce_secret = v.woocommerce;
    if (v.youzan_id || v.youzan_secret) credentials.youzan = { client_id: v.youzan_id, client_secret: v.youzan_secret };
    if (v.generic) credentials.generic_secret = v.generic;
    if (v.wecom_corp || v.wecom_token || v.wecom_key) credentials.wecom = { corp_id: v.wecom_corp, token: v.wecom_token, encoding_aes_key: v.wecom_key };
    if (!Object.keys(credentials).length) return;
    if (await view.attempt(() => sendJson('PATCH', '/api/shop', { credentials }))) { await render(view); view.notify(t('common.saved')); }
  });

  const webhooks = plainTable(['', 'URL'], Object.entries(shop.webhook_paths).map(([platform, path]) =>
    [platform, copyable(`${location.origin}${path}`, t('common.copy'), t('common.copied'))]));

  view.show(
    h('h1', null, t('settings.title')),
    h('h2', null, t('settings.shop')), shopForm,
    h('h2', null, t('settings.branding')), brandingForm,
    h('h2', null, t('settings.webhooks')), webhooks,
    h('h2', null, t('settings.credentials')), credentialsForm,
    h('h2', null, t('settings.keys')), view.owner ? await keys(view) : h('p', { class: 'empty' }, t('settings.ownerOnly')),
    h('h2', null, t('settings.audit')), view.owner ? await audit(view) : h('p', { class: 'empty' }, t('settings.ownerOnly')));
}

async function keys(view) {
  const section = h('section', { id: 'keys' });
  const draw = async (made) => {
    const { items } = await getJson('/api/shop/keys');
    const form = h('form', { class: 'inline', id: 'new-key' },
      field(t('settings.keyName'), input({ name: 'name', required: true })),
      ...SCOPES.map((scope) => checkbox(t(`scope.${scope}`), { name: scope })),
      h('button', { type: 'submit' }, t('settings.newKey')));
    form.addEventListener('submit', async (event) => {
      event.preventDefault();
      const v = formValues(form);
      const key = await view.attempt(() => sendJson('POST', '/api/shop/keys', { name: v.name, scopes: SCOPES.filter((scope) => v[scope]) }));
      if (key) await draw(key);
    });
    replace(section, 
      made ? h('div', { class: 'notice ok', role: 'status' }, h('p', null, t('settings.keyShown')), h('code', { class: 'secret' }, made.api_key)) : '',
      items.length ? plainTable([t('common.name'), t('settings.scopes'), t('common.created'), ''], items.map((key) => [
        key.name, key.scopes.map((scope) => t(`scope.${scope}`)).join('、') || '—', dateTime(key.created_at, view.shop.time_zone),
        h('button', {
          type: 'button', class: 'link',
          onclick: async () => {
            if (await view.attempt(() => sendJson('DELETE', `/api/shop/keys/${encodeURIComponent(key.id)}`))) { await draw(); view.notify(t('settings.revoked')); }
          },
        }, t('settings.revoke'))])) : h('p', { class: 'empty' }, t('common.none')),
      form);
  };
  await draw();
  return section;
}

// What a further key may be allowed (the API's key scopes); the owner key has them all.
const SCOPES = ['export_contacts', 'manage_delivery', 'manage_credentials'];

// Who changed where the shop's personal data goes, newest first (the last 50).
async function audit(view) {
  const { items } = await getJson('/api/shop/audit?limit=50');
  const what = (entry) => {
    switch (entry.action) {
      case 'delivery_url_changed': return t('audit.delivery_url_changed', { from: entry.from_host || '—', to: entry.to_host || '—' });
      case 'credentials_changed': return t('audit.credentials_changed', { fields: entry.fields.join(', ') });
      case 'limits_changed': return t('audit.limits_changed', { count: entry.phone_codes_per_hour });
      case 'owner_key_rotated': return t('audit.owner_key_rotated', { count: entry.revoked_keys.length });
      case 'key_created': return t('audit.key_created', { key: entry.key });
      case 'key_revoked': return t('audit.key_revoked', { key: entry.key });
      default: return t(`audit.${entry.action}`);
    }
  };
  return items.length
    ? plainTable([t('common.created'), t('audit.by'), t('audit.change')], items.map((entry) => [
      dateTime(entry.at, view.shop.time_zone), entry.by, what(entry)]))
    : h('p', { class: 'empty' }, t('common.none'));
}
