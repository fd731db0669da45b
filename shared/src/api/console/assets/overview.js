// The overview: the private-domain funnel of a date range (scans → unique scanners → leads →
// first orders → repurchases, revenue), by day and by channel; RFM groups; reminders and
// coupons. Everything comes from the JSON API; the charts are drawn by the console component.

import { h, sortableTable, plainTable, input, field } from './dom.js';
import { t, number, money, percent, today, toMajor } from './i18n.js';
import { getJson, allPages, chartUrl, FUNNEL_STEPS as STEPS } from './api.js';

export async function render(view, from, to) {
  const { shop } = view;
  const range = { from: from || today(shop.time_zone, -29), to: to || today(shop.time_zone) };
  const [channels, rfm, reminders, campaigns] = await Promise.all([
    allPages(`/api/channels/stats?from=${range.from}&to=${range.to}&limit=50`, 500),
    getJson('/api/rfm'),
    getJson('/api/reminders/stats?limit=1'),
    getJson('/api/campaigns?limit=50'),
  ]);
  const couponStats = await Promise.all(campaigns.items.map((c) => getJson(`/api/campaigns/${c.id}/stats`)));
  const revenueOf = (numbers) => numbers.revenue?.[shop.currency] ?? 0;

  // The shop's funnel is the sum of its channels', day by day.
  const days = new Map();
  for (const { stats } of channels) {
    for (const day of stats.days) {
      const sum = days.get(day.date) || { date: day.date, scans: 0, unique_scanners: 0, leads: 0, first_orders: 0, repurchases: 0, revenue: 0 };
      for (const [step] of STEPS) sum[step] += day[step];
      sum.revenue += revenueOf(day);
      days.set(day.date, sum);
    }
  }
  const series = [...days.values()].sort((a, b) => a.date.localeCompare(b.date));
  const totals = Object.fromEntries([...STEPS.map(([s]) => [s, 0]), ['revenue', 0]]);
  for (const day of series) for (const name of Object.keys(totals)) totals[name] += day[name];

  const rangeForm = h('form', { class: 'inline', id: 'range' },
    field(t('common.from'), input({ type: 'date', name: 'from', value: range.from, required: true })),
    field(t('common.to'), input({ type: 'date', name: 'to', value: range.to, required: true })),
    h('button', { type: 'submit' }, t('common.apply')));
  rangeForm.addEventListener('submit', (event) => {
    event.preventDefault();
    view.go(`overview/${rangeForm.from.value}/${rangeForm.to.value}`);
  });

  const cards = h('div', { class: 'cards', id: 'funnel' },
    STEPS.map(([step, label]) => h('div', { class: 'card stat', 'data-step': step },
      h('span', { class: 'label' }, t(label)), h('strong', null, number(totals[step])))),
    h('div', { class: 'card stat', 'data-step': 'revenue' },
      h('span', { class: 'label' }, t('funnel.revenue')), h('strong', null, money(totals.revenue, shop.currency))));

  const charts = h('div', { class: 'charts' });
  if (series.length) {
    const labels = series.map((d) => d.date.slice(5));
    const funnel = await chartUrl('line', labels, STEPS.map(([step, label]) => ({ name: t(label), values: series.map((d) => d[step]) })));
    const revenue = await chartUrl('bar', labels, [{ name: `${t('funnel.revenue')} (${shop.currency})`, values: series.map((d) => Number(toMajor(d.revenue, shop.currency))) }]);
    charts.append(
      h('figure', null, h('img', { src: funnel, alt: t('funnel.byDay'), id: 'funnel-chart' }), h('figcaption', null, t('funnel.byDay'))),
      h('figure', null, h('img', { src: revenue, alt: t('funnel.revenueByDay') }), h('figcaption', null, t('funnel.revenueByDay'))));
  }

  const byChannel = channels.length ? sortableTable([
    { label: t('common.name'), value: (c) => c.name, cell: (c) => h('a', { href: `#/channels/${c.stats.channel}` }, c.name) },
    { label: t('channels.kind'), value: (c) => t(`kind.${c.kind}`) },
    ...STEPS.map(([step, label]) => ({ label: t(label), value: (c) => c.stats[step], cell: (c) => number(c.stats[step]), numeric: true })),
    { label: t('funnel.leadRate'), value: (c) => ratio(c.stats.leads, c.stats.unique_scanners) ?? -1, cell: (c) => percent(ratio(c.stats.leads, c.stats.unique_scanners)), numeric: true },
    { label: t('funnel.repeatRate'), value: (c) => ratio(c.stats.repurchases, c.stats.first_orders) ?? -1, cell: (c) => percent(ratio(c.stats.repurchases, c.stats.first_orders)), numeric: true },
    { label: t('funnel.revenue'), value: (c) => revenueOf(c.stats), cell: (c) => money(revenueOf(c.stats), shop.currency), numeric: true },
  ], channels) : h('p', { class: 'empty' }, t('overview.noChannels'));

  const rfmTable = plainTable([t('overview.group'), t('overview.customers')], [
    ...rfm.groups.map((g) => [h('a', { href: `#/segments/rfm/${g.group}` }, t(`rfm.${g.group}`)), number(g.customers)]),
    [h('a', { href: '#/segments/rfm/super_users' }, t('overview.superUsers')), number(rfm.super_users)],
  ]);

  const sent = reminders.overall;
  const issued = couponStats.reduce((sum, s) => sum + s.issued, 0);
  const redeemed = couponStats.reduce((sum, s) => sum + s.redeemed, 0);
  view.show(
    h('h1', null, t('overview.title')),
    rangeForm, cards, charts,
    h('h2', null, t('overview.channels')), byChannel,
    h('div', { class: 'columns' },
      h('section', null, h('h2', null, t('overview.rfm')), rfmTable),
      h('section', null,
        h('h2', null, t('overview.reminders')),
        plainTable([t('overview.sent'), t('overview.converted'), t('funnel.revenue')],
          [[number(sent.sent), number(sent.converted), money(sent.revenue_minor, shop.currency)]]),
        h('h2', null, t('overview.coupons')),
        plainTable([t('overview.issued'), t('overview.redeemed'), t('campaigns.rate2')],
          [[number(issued), number(redeemed), percent(ratio(redeemed, issued))]]))));
}

function ratio(part, whole) {
  return whole ? part / whole : null;
}
