// Repurchase reminders: the consumption cycles (a default and per product), quiet hours,
// the frequency cap, the delivery URL and its signing secret (made here, shown once), and
// what the reminders achieved, overall and per product.

import { h, field, input, plainTable, formValues } from './dom.js';
import { t, number, money } from './i18n.js';
import { getJson, sendJson } from './api.js';

const PROFILE_FIELDS = [
  ['days_per_unit', 'reminders.daysPerUnit', 'number'], ['lead_days', 'reminders.leadDays', 'number'],
  ['reminders', 'reminders.count', 'number'], ['reminder_gap_days', 'reminders.gap', 'number'],
  ['send_time', 'reminders.sendTime', 'time'], ['follow_up_campaign', 'reminders.followUp', 'text'],
  ['follow_up_days', 'reminders.followUpDays', 'number'],
];

function profileFields(prefix, profile) {
  return h('div', { class: 'inline' }, PROFILE_FIELDS.map(([name, label, type]) =>
    field(t(label), input({ name: `${prefix}${name}`, type, min: type === 'number' ? 0 : null, value: profile?.[name] ?? '' }))));
}

function readProfile(values, prefix) {
  const profile = {};
  for (const [name, , type] of PROFILE_FIELDS) {
    const value = values[`${prefix}${name}`];
    if (value === '' || value === undefined) continue;
    profile[name] = type === 'number' ? Number(value) : value;
  }
  return profile;
}

export async function render(view) {
  const [settings, stats] = await Promise.all([getJson('/api/reminders/settings'), getJson('/api/reminders/stats?limit=200')]);
  const products = h('div', { id: 'products' });
  const addProduct = (product) => {
    const index = products.children.length;
    const row = h('fieldset', { class: 'product' },
      h('legend', null, `${t('reminders.products')} ${index + 1}`),
      h('div', { class: 'inline' },
        field(t('reminders.product'), input({ name: `p${index}_product_id`, value: product?.product_id ?? '' })),
        field(t('reminders.sku'), input({ name: `p${index}_sku`, value: product?.sku ?? '' }))),
      profileFields(`p${index}_`, product?.profile),
      h('button', { type: 'button', class: 'link', onclick: () => row.remove() }, t('common.delete')));
    products.append(row);
  };
  settings.products.forEach(addProduct);
  const form = h('form', { class: 'card', id: 'reminder-settings' },
    h('h2', null, t('reminders.default')), profileFields('d_', settings.default),
    h('h2', null, t('reminders.products')), products,
    h('p', null, h('button', { type: 'button', class: 'secondary', onclick: () => addProduct(null) }, t('reminders.addProduct'))),
    h('div', { class: 'inline' },
      field(t('reminders.quietStart'), input({ name: 'quiet_start', type: 'time', value: settings.quiet_start })),
      field(t('reminders.quietEnd'), input({ name: 'quiet_end', type: 'time', value: settings.quiet_end })),
      field(t('reminders.cap'), input({ name: 'frequency_cap_hours', type: 'number', min: 0, value: settings.frequency_cap_hours })),
      field(t('reminders.conversion'), input({ name: 'conversion_days', type: 'number', min: 1, value: settings.conversion_days })),
      field(t('reminders.attempts'), input({ name: 'max_attempts', type: 'number', min: 1, value: settings.max_attempts }))),
    field(t('reminders.delivery'), input({ name: 'delivery_url', type: 'url', value: settings.delivery_url ?? '', placeholder: 'https://' })),
    h('p', { class: 'actions' }, h('button', { type: 'submit', id: 'save-reminders' }, t('common.save'))));
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    const v = formValues(form);
    const body = {
      default: v.d_days_per_unit ? readProfile(v, 'd_') : null,
      products: [...products.children].map((row) => {
        const index = row.querySelector('input').name.split('_')[0];
        return {
          product_id: v[`${index}_product_id`] || null, sku: v[`${index}_sku`] || null,
          profile: readProfile(v, `${index}_`),
        };
      }),
      quiet_start: v.quiet_start, quiet_end: v.quiet_end,
      frequency_cap_hours: Number(v.frequency_cap_hours), conversion_days: Number(v.conversion_days),
      max_attempts: Number(v.max_attempts), delivery_url: v.delivery_url || null,
    };
    if (await view.attempt(() => sendJson('PUT', '/api/reminders/settings', body))) view.notify(t('common.saved'));
  });
  const secret = h('div', { id: 'secret' },
    h('p', null, `${t('reminders.secret')}: ${settings.delivery_secret_set ? t('reminders.secretSet') : t('reminders.secretNotSet')}`),
    h('button', {
      type: 'button', class: 'secondary',
      onclick: async () => {
        const made = await view.attempt(() => sendJson('POST', '/api/reminders/secret'));
        if (made) secret.replaceChildren(h('p', null, t('reminders.secretShown')), h('code', { class: 'secret' }, made.delivery_secret));
      },
    }, t('reminders.newSecret')));
  const overall = stats.overall;
  const currency = view.shop.currency;
  const row = (s) => [number(s.scheduled), number(s.sent), number(s.suppressed_reordered), number(s.suppressed), number(s.failed), number(s.converted), money(s.revenue_minor, currency)];
  const heads = [t('reminders.scheduled'), t('reminders.sent'), t('reminders.suppressedReordered'), t('reminders.suppressed'), t('reminders.failed'), t('reminders.converted'), t('reminders.revenue')];
  view.show(
    h('h1', null, t('reminders.title')),
    h('h2', null, t('reminders.stats')),
    plainTable(heads, [row(overall)]),
    stats.products.length ? plainTable([t('reminders.product'), ...heads], stats.products.map((p) =>
      [p.title || p.key || '—', ...row(p.stats || p)])) : null,
    h('h2', null, t('reminders.settings')), form, secret);
}
