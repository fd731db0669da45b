// Customers: look one up by phone, email or WeCom id; the profile (masked contacts, consent,
// tags with their reasons and history, orders, RFM, products, reminder plans); manual tags,
// issuing a coupon, and erasure after a typed confirmation.

import { h, field, input, select, plainTable, formValues, list, randomKey } from './dom.js';
import { t, number, money, dateTime } from './i18n.js';
import { getJson, sendJson, ApiFailure } from './api.js';

export async function render(view, id) {
  if (id) return profile(view, id);
  const by = select({ name: 'by', id: 'lookup-by' }, [
    ['phone', t('customers.phone')], ['email', t('customers.email')], ['wecom_external_id', t('customers.wecom')],
  ], 'phone');
  const form = h('form', { class: 'card inline', id: 'lookup' },
    field(t('customers.by'), by),
    field(t('customers.value'), input({ name: 'value', id: 'lookup-value', required: true })),
    h('button', { type: 'submit' }, t('customers.find')));
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    const v = formValues(form);
    try {
      const customer = await getJson(`/api/customers?${v.by}=${encodeURIComponent(v.value)}`);
      view.go(`customers/${customer.id}`);
    } catch (error) {
      if (error instanceof ApiFailure && error.status === 404) view.notify(t('customers.notFound'), 'error');
      else await view.attempt(() => Promise.reject(error));
    }
  });
  view.show(h('h1', null, t('customers.lookup')), form);
}

/** Why a customer holds a tag, naming the rule or channel as the merchant named it. */
function sourceText(source, names) {
  switch (source.kind) {
    case 'rule': return `${t('source.rule')} ${names.get(source.rule) || source.rule}`;
    case 'channel': return `${t('source.channel')} ${names.get(source.channel) || source.channel}`;
    case 'manual': return `${t('source.manual')} (${source.key}${source.by ? ` · ${source.by}` : ''})`;
    default: return `${t('source.platform')} ${source.platform}`;
  }
}

async function profile(view, id) {
  const zone = view.shop.time_zone;
  const [customer, plans, coupons, campaigns, rules] = await Promise.all([
    getJson(`/api/customers/${encodeURIComponent(id)}`),
    getJson(`/api/customers/${encodeURIComponent(id)}/reminders`),
    getJson(`/api/customers/${encodeURIComponent(id)}/coupons?limit=200`),
    getJson('/api/campaigns?limit=200'),
    getJson('/api/rules'),
  ]);
  const names = new Map([...rules.items, ...campaigns.items].map((r) => [r.id, r.name]));
  const channelIds = new Set([customer.first_capture?.channel,
    ...[...customer.tags.flatMap((tag) => tag.sources), ...customer.tag_history.map((e) => e.source)]
      .filter((s) => s.kind === 'channel').map((s) => s.channel)].filter(Boolean));
  // A deleted channel is no longer readable: its id stands in for its name.
  await Promise.all([...channelIds].map((channel) => getJson(`/api/channels/${channel}`)
    .then((c) => names.set(channel, c.name), () => {})));
  const consent = customer.consent.marketing === true ? t('customers.granted')
    : customer.consent.marketing === false ? t('customers.withdrawn') : t('customers.unknown');
  const name = [customer.first_name, customer.last_name].filter(Boolean).join(' ') || customer.id;
  const manualTag = (tag) => tag.sources.some((s) => s.kind === 'manual');
  const changeTags = async (body) => {
    if (await view.attempt(() => sendJson('POST', `/api/customers/${customer.id}/tags`, { by: 'console', ...body }))) {
      await profile(view, id);
      view.notify(t('customers.tagsSaved'));
    }
  };
  const tagForm = h('form', { class: 'inline', id: 'add-tags' },
    field(t('customers.addTags'), input({ name: 'tags', id: 'new-tags', required: true })),
    h('button', { type: 'submit' }, t('common.save')));
  tagForm.addEventListener('submit', (event) => {
    event.preventDefault();
    changeTags({ add: list(tagForm.tags.value), remove: [] });
  });
  const issueForm = h('form', { class: 'inline', id: 'issue-coupon' },
    field(t('customers.issue'), select({ name: 'campaign' }, campaigns.items.filter((c) => c.active).map((c) => [c.id, c.name]))),
    h('button', { type: 'submit' }, t('campaigns.issue')));
  issueForm.addEventListener('submit', async (event) => {
    event.preventDefault();
    const coupon = await view.attempt(() => sendJson('POST', `/api/campaigns/${issueForm.campaign.value}/issue`,
      { customer_id: customer.id }, { 'idempotency-key': randomKey() }));
    if (coupon) view.notify(t('customers.issued', { code: coupon.code }));
  });
  const erase = h('button', {
    type: 'button', class: 'danger', id: 'erase',
    onclick: async () => {
      const typed = window.prompt(t('customers.eraseConfirm'));
      if (typed === null || typed.trim() !== t('customers.eraseWord')) return;
      if (await view.attempt(() => sendJson('DELETE', `/api/customers/${customer.id}`))) {
        await profile(view, id);
        view.notify(t('customers.erased'));
      }
    },
  }, t('customers.erase'));
  const spend = Object.entries(customer.orders.spend || {}).map(([currency, minor]) => money(minor, currency)).join(' · ') || money(0, view.shop.currency);

  view.show(
    h('h1', null, name, customer.super_user ? h('span', { class: 'badge ok' }, t('customers.superUser')) : null),
    customer.erased_at ? h('p', { class: 'notice error' }, t('customers.erased')) : null,
    h('div', { class: 'columns' },
      h('section', { class: 'card' }, h('h2', null, t('customers.contacts')),
        h('dl', null,
          h('dt', null, t('customers.phone')), h('dd', { id: 'masked-phone' }, customer.phone || '—'),
          h('dt', null, t('customers.email')), h('dd', null, customer.email || '—'),
          h('dt', null, t('customers.consent')), h('dd', null, consent),
          h('dt', null, t('customers.firstCapture')), h('dd', null, customer.first_capture
            ? h('a', { href: `#/channels/${customer.first_capture.channel}` }, names.get(customer.first_capture.channel) || customer.first_capture.channel) : '—'),
          h('dt', null, t('common.created')), h('dd', null, dateTime(customer.created_at, zone)))),
      h('section', { class: 'card' }, h('h2', null, t('customers.orders')),
        h('dl', null,
          h('dt', null, t('customers.orderCount')), h('dd', { id: 'order-count' }, number(customer.orders.order_count)),
          h('dt', null, t('customers.spend')), h('dd', null, spend),
          h('dt', null, t('customers.firstOrder')), h('dd', null, dateTime(customer.orders.first_order_at, zone)),
          h('dt', null, t('customers.lastOrder')), h('dd', null, dateTime(customer.orders.last_order_at, zone)),
          h('dt', null, t('customers.rfm')), h('dd', null, customer.rfm
            ? `${t(`rfm.${customer.rfm.group}`)} (R${customer.rfm.recency ?? '-'} F${customer.rfm.frequency ?? '-'} M${customer.rfm.monetary ?? '-'})` : '—')))),
    h('h2', null, t('customers.tags')),
    customer.tags.length ? plainTable([t('segments.tag'), t('customers.reasons'), ''], customer.tags.map((tag) => [
      h('a', { href: `#/segments/tag/${encodeURIComponent(tag.name)}` }, tag.name),
      tag.sources.map((source) => sourceText(source, names)).join('; '),
      manualTag(tag) ? h('button', { type: 'button', class: 'link', onclick: () => changeTags({ add: [], remove: [tag.name] }) }, t('customers.removeTag')) : '',
    ])) : h('p', { class: 'empty' }, t('common.none')),
    customer.erased_at ? null : tagForm,
    customer.erased_at ? null : issueForm,
    h('h2', null, t('customers.history')),
    customer.tag_history.length ? plainTable([t('common.created'), t('segments.tag'), t('segments.action'), t('customers.reasons')],
      customer.tag_history.slice().reverse().map((e) => [dateTime(e.at, zone), e.tag, t(`history.${e.action}`), sourceText(e.source, names)])) : h('p', { class: 'empty' }, t('common.none')),
    h('h2', null, t('customers.products')),
    customer.products.length ? plainTable([t('common.name'), 'SKU', '×', t('customers.lastOrder')],
      customer.products.map((p) => [p.title || p.product_id || '—', p.sku || '—', number(p.quantity), dateTime(p.last_purchased_at, zone)])) : h('p', { class: 'empty' }, t('common.none')),
    h('h2', null, t('customers.coupons')),
    coupons.items.length ? plainTable([t('channels.code'), t('nav.campaigns'), t('common.status'), t('customers.validUntil')],
      coupons.items.map((c) => [h('code', null, c.code), h('a', { href: `#/campaigns/${c.campaign}` }, names.get(c.campaign) || c.campaign),
        t(`coupon.${c.state}`), dateTime(c.valid_until, zone)])) : h('p', { class: 'empty' }, t('common.none')),
    h('h2', null, t('customers.plans')),
    plans.items.length ? plainTable([t('common.name'), t('common.status'), '→'],
      plans.items.map((p) => [p.title || p.product?.product_id || '—', p.status || '', dateTime(p.run_out, zone)])) : h('p', { class: 'empty' }, t('common.none')),
    customer.erased_at ? null : h('p', { class: 'actions' }, erase));
}
