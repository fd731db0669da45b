// Coupon campaigns: the list; a form for the discount (amount off, percent off, free
// shipping), the spend threshold (满减), the window, quota and limits, and the kind of code;
// a campaign's numbers; issuing to a customer; importing a platform's code pool from a CSV
// file; and print batches downloaded as CSV.

import { h, field, input, select, checkbox, plainTable, saveFile, formValues, list, randomKey, sortableTable } from './dom.js';
import { t, number, money, percent, toMinor, dateTime, zonedToInstant } from './i18n.js';
import { call, getJson, sendJson, allPages, csvPages, RFM_GROUPS } from './api.js';


export function discountText(discount, currency) {
  switch (discount.type) {
    case 'fixed_amount': return `${t('campaigns.fixed')} ${money(discount.amount_minor, discount.currency || currency)}`;
    case 'percent': return `${t('campaigns.percent')} ${discount.basis_points / 100}%${discount.cap_minor ? ` (≤ ${money(discount.cap_minor, currency)})` : ''}`;
    default: return t('campaigns.freeShipping');
  }
}

export async function render(view, id) {
  if (id === 'new') return create(view);
  if (id) return detail(view, id);
  const campaigns = await allPages('/api/campaigns?limit=200', 2000);
  view.show(
    h('h1', null, t('campaigns.title')),
    h('p', { class: 'actions' }, h('a', { href: '#/campaigns/new', class: 'button', id: 'new-campaign' }, t('campaigns.new'))),
    campaigns.length ? sortableTable([
      { label: t('common.name'), value: (c) => c.name, cell: (c) => h('a', { href: `#/campaigns/${c.id}` }, c.name) },
      { label: t('campaigns.discount'), value: (c) => discountText(c.discount, view.shop.currency) },
      { label: t('campaigns.codes'), value: (c) => t(`campaigns.${c.codes.type}`) },
      { label: t('campaigns.quota'), value: (c) => c.quota ?? Infinity, cell: (c) => (c.quota === null ? '∞' : number(c.quota)), numeric: true },
      { label: t('common.status'), value: (c) => (c.active ? t('common.active') : t('campaigns.paused')) },
    ], campaigns) : h('p', { class: 'empty' }, t('common.none')));
}

async function create(view) {
  const currency = view.shop.currency;
  const zone = view.shop.time_zone;
  const type = select({ name: 'type', id: 'discount-type' }, [
    ['fixed_amount', t('campaigns.fixed')], ['percent', t('campaigns.percent')], ['free_shipping', t('campaigns.freeShipping')]], 'fixed_amount');
  const amount = field(`${t('campaigns.amount')} (${currency})`, input({ name: 'amount', id: 'discount-amount', inputmode: 'decimal' }));
  const rate = field(t('campaigns.rate'), input({ name: 'rate', type: 'number', min: 1, max: 100, step: '0.01' }));
  const cap = field(`${t('campaigns.cap')} (${currency})`, input({ name: 'cap', inputmode: 'decimal' }));
  const codes = select({ name: 'codes', id: 'code-kind' }, [
    ['generated', t('campaigns.generated')], ['pool', t('campaigns.pool')], ['shared', t('campaigns.shared')]], 'generated');
  const generated = h('div', { class: 'inline' },
    field(t('campaigns.prefix'), input({ name: 'prefix', maxlength: 12, pattern: '[A-Za-z0-9-]*' })),
    field(t('campaigns.length'), input({ name: 'length', type: 'number', min: 6, max: 24, value: 8 })));
  const shared = field(t('campaigns.sharedCode'), input({ name: 'shared_code', pattern: '[A-Za-z0-9_-]{3,64}' }));
  const show = () => {
    amount.hidden = type.value !== 'fixed_amount';
    rate.hidden = type.value !== 'percent';
    cap.hidden = type.value !== 'percent';
    generated.hidden = codes.value !== 'generated';
    shared.hidden = codes.value !== 'shared';
  };
  type.addEventListener('change', show);
  codes.addEventListener('change', show);
  show();
  const form = h('form', { class: 'card', id: 'campaign-form' },
    field(t('common.name'), input({ name: 'name', required: true, id: 'campaign-name' })),
    field(t('campaigns.type'), type), amount, rate, cap,
    field(`${t('campaigns.minOrder')} (${currency})`, input({ name: 'min_order', inputmode: 'decimal' })),
    h('div', { class: 'inline' },
      field(`${t('campaigns.starts')} · ${zone}`, input({ name: 'starts_at', type: 'datetime-local' })),
      field(`${t('campaigns.ends')} · ${zone}`, input({ name: 'ends_at', type: 'datetime-local' }))),
    h('div', { class: 'inline' },
      field(t('campaigns.validDays'), input({ name: 'valid_days', type: 'number', min: 1 })),
      field(t('campaigns.quota'), input({ name: 'quota', type: 'number', min: 1 })),
      field(t('campaigns.limit'), input({ name: 'per_customer_limit', type: 'number', min: 1, value: 1 }))),
    field(t('campaigns.codes'), codes), generated, shared,
    field(t('campaigns.eligibleTags'), input({ name: 'tags' }), t('channels.tagsHint')),
    h('fieldset', null, h('legend', null, t('campaigns.eligibleRfm')), RFM_GROUPS.map((g) => checkbox(t(`rfm.${g}`), { name: `rfm_${g}` }))),
    field(t('campaigns.onTag'), input({ name: 'issue_on_tag' })),
    checkbox(t('campaigns.rollbackCancel'), { name: 'on_cancel', checked: true }),
    checkbox(t('campaigns.rollbackRefund'), { name: 'on_full_refund', checked: true }),
    h('p', { class: 'actions' }, h('button', { type: 'submit', id: 'save-campaign' }, t('common.create'))));
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    const v = formValues(form);
    const optionalMinor = (text) => (text ? toMinor(text, currency) : null);
    const optionalNumber = (text) => (text ? Number(text) : null);
    const discount = v.type === 'fixed_amount' ? { type: 'fixed_amount', amount_minor: toMinor(v.amount, currency) }
      : v.type === 'percent' ? { type: 'percent', basis_points: Math.round(Number(v.rate) * 100), cap_minor: optionalMinor(v.cap) }
        : { type: 'free_shipping' };
    const body = {
      name: v.name, discount,
      min_order_minor: optionalMinor(v.min_order),
      starts_at: zonedToInstant(v.starts_at, zone), ends_at: zonedToInstant(v.ends_at, zone),
      valid_days: optionalNumber(v.valid_days), quota: optionalNumber(v.quota),
      per_customer_limit: optionalNumber(v.per_customer_limit),
      codes: v.codes === 'generated' ? { type: 'generated', prefix: v.prefix, length: Number(v.length) }
        : v.codes === 'shared' ? { type: 'shared', code: v.shared_code } : { type: 'pool' },
      eligibility: { tags: list(v.tags), rfm_groups: RFM_GROUPS.filter((g) => v[`rfm_${g}`]) },
      issue_on_tag: v.issue_on_tag || null,
      rollback: { on_cancel: v.on_cancel, on_full_refund: v.on_full_refund },
    };
    const saved = await view.attempt(() => sendJson('POST', '/api/campaigns', body));
    if (saved) { view.go(`campaigns/${saved.id}`); view.notify(t('campaigns.created')); }
  });
  view.show(h('h1', null, t('campaigns.new')), form);
}

async function detail(view, id) {
  const zone = view.shop.time_zone;
  const [campaign, stats] = await Promise.all([
    getJson(`/api/campaigns/${encodeURIComponent(id)}`), getJson(`/api/campaigns/${encodeURIComponent(id)}/stats`)]);
  const issueForm = h('form', { class: 'inline', id: 'issue' },
    field(t('campaigns.issueTo'), input({ name: 'customer', required: true, id: 'issue-customer' })),
    h('button', { type: 'submit' }, t('campaigns.issue')));
  issueForm.addEventListener('submit', async (event) => {
    event.preventDefault();
    const coupon = await view.attempt(async () => {
      let customer = issueForm.customer.value.trim();
      if (!customer.startsWith('cus_')) customer = (await getJson(`/api/customers?phone=${encodeURIComponent(customer)}`)).id;
      return sendJson('POST', `/api/campaigns/${campaign.id}/issue`, { customer_id: customer }, { 'idempotency-key': randomKey() });
    });
    if (coupon) { view.notify(t('customers.issued', { code: coupon.code })); }
  });
  const importForm = h('form', { class: 'inline', id: 'pool-import' },
    field(t('campaigns.import'), input({ type: 'file', name: 'file', accept: '.csv,.txt,text/csv,text/plain', required: true })),
    h('button', { type: 'submit' }, t('common.save')));
  importForm.addEventListener('submit', async (event) => {
    event.preventDefault();
    const file = importForm.file.files[0];
    const report = await view.attempt(async () => (await call(`/api/campaigns/${campaign.id}/pool`, {
      method: 'POST', body: await file.text(), type: 'text/csv' })).json());
    if (report) view.notify(t('campaigns.imported', { imported: report.imported, duplicates: report.duplicates, pool: report.pool_size }));
  });
  const batchForm = h('form', { class: 'inline', id: 'batch' },
    field(t('campaigns.batchName'), input({ name: 'name', required: true, pattern: '[A-Za-z0-9_-]{1,40}' })),
    field(t('campaigns.batchCount'), input({ name: 'count', type: 'number', min: 1, required: true })),
    h('button', { type: 'submit' }, t('common.download')));
  batchForm.addEventListener('submit', async (event) => {
    event.preventDefault();
    const v = formValues(batchForm);
    const rows = await view.attempt(async () => {
      const batch = await sendJson('POST', `/api/campaigns/${campaign.id}/batches`, { name: v.name, count: Number(v.count) });
      const { csv, rows: count } = await csvPages((cursor) =>
        `/api/campaigns/${campaign.id}/batches/${encodeURIComponent(batch.name)}/codes?limit=1000&cursor=${cursor || 0}`);
      saveFile(new Blob([csv], { type: 'text/csv' }), `siyu-${campaign.id}-${batch.name}.csv`);
      return count;
    });
    if (rows !== undefined) view.notify(t('campaigns.batchDone', { rows }));
  });
  const pause = h('button', {
    type: 'button', class: 'secondary', id: 'toggle-campaign',
    onclick: async () => {
      if (await view.attempt(() => sendJson('PATCH', `/api/campaigns/${campaign.id}`, { active: !campaign.active }))) {
        await detail(view, id);
        view.notify(t('common.saved'));
      }
    },
  }, campaign.active ? t('campaigns.pause') : t('campaigns.resume'));
  view.show(
    h('h1', null, campaign.name, ' ', h('span', { class: campaign.active ? 'badge ok' : 'badge' }, campaign.active ? t('common.active') : t('campaigns.paused'))),
    h('p', { class: 'meta' }, discountText(campaign.discount, view.shop.currency),
      campaign.min_order_minor ? ` · ${t('campaigns.minOrder')}: ${money(campaign.min_order_minor, view.shop.currency)}` : '',
      ` · ${t(`campaigns.${campaign.codes.type}`)}`,
      campaign.codes.type === 'shared' ? ` ${campaign.codes.code}` : '',
      campaign.ends_at ? ` · ${t('campaigns.ends')}: ${dateTime(campaign.ends_at, zone)}` : ''),
    h('h2', null, t('campaigns.stats')),
    plainTable([t('campaigns.issued'), t('campaigns.redeemed'), t('campaigns.rate2'), t('campaigns.orders'), t('campaigns.revenue')],
      [[number(stats.issued), number(stats.redeemed), percent(stats.redemption_rate), number(stats.orders), money(stats.revenue_minor, stats.currency)]]),
    campaign.codes.type === 'shared' ? null : issueForm,
    campaign.codes.type === 'pool' ? importForm : null,
    campaign.codes.type === 'generated' ? h('section', null, h('h2', null, t('campaigns.batch')), batchForm) : null,
    h('p', { class: 'actions' }, pause));
}

