// Channels: the list, a form to make or change one, its QR code (preview, SVG/PNG download
// with error correction and size), its scan and form URLs, retire/delete, and an A4 sheet
// of package-card codes to print.

import { h, field, input, select, checkbox, copyable, saveFile, formValues, list, sortableTable } from './dom.js';
import { t, number, dateTime, today } from './i18n.js';
import { call, getJson, sendJson, allPages, chartUrl, FUNNEL_STEPS as STEPS } from './api.js';

const KINDS = ['package_card', 'poster', 'sms', 'store', 'staff', 'livestream', 'other'];

export async function render(view, id, action) {
  if (id === 'new') return edit(view, null);
  if (id === 'print') return printSheet(view);
  if (id) return detail(view, id, action);
  const channels = await allPages('/api/channels?limit=200', 2000);
  view.show(
    h('h1', null, t('channels.title')),
    h('p', { class: 'actions' },
      h('a', { href: '#/channels/new', class: 'button', id: 'new-channel' }, t('channels.new')),
      h('a', { href: '#/channels/print', class: 'button secondary' }, t('channels.print'))),
    channels.length ? sortableTable([
      { label: t('common.name'), value: (c) => c.name, cell: (c) => h('a', { href: `#/channels/${c.id}` }, c.name) },
      { label: t('channels.kind'), value: (c) => t(`kind.${c.kind}`) },
      { label: t('channels.code'), value: (c) => c.code, cell: (c) => h('code', null, c.code) },
      { label: t('common.status'), value: (c) => (c.active ? t('common.active') : t('common.inactive')) },
      { label: t('channels.tags'), value: (c) => c.tags.join(', ') },
      { label: t('common.created'), value: (c) => c.created_at, cell: (c) => dateTime(c.created_at, view.shop.time_zone) },
    ], channels) : h('p', { class: 'empty' }, t('common.none')));
}

async function edit(view, channel) {
  const campaigns = (await getJson('/api/campaigns?limit=200')).items;
  const form = h('form', { class: 'card', id: 'channel-form' },
    field(t('common.name'), input({ name: 'name', required: true, maxlength: 100, value: channel?.name })),
    field(t('channels.kind'), select({ name: 'kind' }, KINDS.map((k) => [k, t(`kind.${k}`)]), channel?.kind || 'package_card')),
    field(t('channels.target'), input({ name: 'target_url', type: 'url', required: true, value: channel?.target_url, placeholder: 'https://' }), t('channels.targetHint')),
    field(t('channels.tags'), input({ name: 'tags', value: channel?.tags.join(', ') }), t('channels.tagsHint')),
    field(t('channels.campaign'), input({ name: 'campaign', value: channel?.campaign })),
    field(t('channels.staff'), input({ name: 'staff', value: channel?.staff })),
    field(t('channels.welcome'), select({ name: 'welcome_campaign' },
      [['', t('channels.noWelcome')], ...campaigns.map((c) => [c.id, c.name])], channel?.welcome_campaign || '')),
    checkbox(t('common.active'), { name: 'active', checked: channel ? channel.active : true }),
    pageFields(channel?.page || {}),
    h('p', { class: 'actions' }, h('button', { type: 'submit', id: 'save-channel' }, channel ? t('common.save') : t('common.create')),
      h('a', { href: channel ? `#/channels/${channel.id}` : '#/channels', class: 'button secondary' }, t('common.cancel'))));
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    const v = formValues(form);
    const body = {
      name: v.name, kind: v.kind, target_url: v.target_url, tags: list(v.tags), active: v.active,
      campaign: v.campaign || null, staff: v.staff || null, welcome_campaign: v.welcome_campaign || null,
      page: readPage(v),
    };
    const saved = await view.attempt(() => (channel
      ? sendJson('PATCH', `/api/channels/${channel.id}`, body)
      : sendJson('POST', '/api/channels', body)));
    if (saved) {
      view.go(`channels/${saved.id}`);
      view.notify(channel ? t('common.saved') : t('channels.created'));
    }
  });
  view.show(h('h1', null, channel ? channel.name : t('channels.new')), form);
}

const RULES = ['off', 'optional', 'required'];
const NEXT = ['wecom_url', 'wecom_qr_url', 'shop_url', 'mini_program_url'];

/** The shopper's page of a channel: its texts, fields and next step. */
function pageFields(page) {
  const fields = page.fields || {};
  const next = page.next_step || {};
  return h('fieldset', { id: 'page-settings' }, h('legend', null, t('page.title')),
    field(t('page.headline'), input({ name: 'page_headline', maxlength: 60, value: page.headline })),
    field(t('page.benefit'), input({ name: 'page_benefit', maxlength: 200, value: page.benefit })),
    field(t('page.button'), input({ name: 'page_button', maxlength: 20, value: page.button })),
    h('div', { class: 'inline' }, ['name', 'phone', 'email'].map((name) =>
      field(t(`page.field.${name}`), select({ name: `page_field_${name}` }, RULES.map((r) => [r, t(`page.rule.${r}`)]), fields[name] || 'optional')))),
    checkbox(t('page.verifyPhone'), { name: 'page_verify_phone', checked: Boolean(page.verify_phone) }),
    NEXT.map((name) => field(t(`page.next.${name}`), input({ name: `page_next_${name}`, type: 'url', value: next[name], placeholder: 'https://' }))));
}

function readPage(v) {
  const text = (value) => value || null;
  return {
    headline: text(v.page_headline), benefit: text(v.page_benefit), button: text(v.page_button),
    fields: Object.fromEntries(['name', 'phone', 'email'].map((name) => [name, v[`page_field_${name}`]])),
    next_step: Object.fromEntries(NEXT.map((name) => [name, text(v[`page_next_${name}`])])),
    verify_phone: v.page_verify_phone,
  };
}

async function detail(view, id, action) {
  const channel = await getJson(`/api/channels/${encodeURIComponent(id)}`);
  if (action === 'edit') return edit(view, channel);
  const zone = view.shop.time_zone;
  const stats = await getJson(`/api/channels/${channel.id}/stats?from=${today(zone, -29)}&to=${today(zone)}`);
  const chart = await chartUrl('line', stats.days.map((d) => d.date.slice(5)), STEPS.map(([step, label]) =>
    ({ name: t(label), values: stats.days.map((d) => d[step]) })));
  const preview = h('img', { alt: `${t('channels.qr')}: ${channel.name}`, id: 'qr-preview', width: 220, height: 220 });
  const ec = select({ name: 'ec', id: 'qr-ec' }, [['L', 'L 7%'], ['M', 'M 15%'], ['Q', 'Q 25%'], ['H', 'H 30%']], 'M');
  const size = input({ type: 'number', name: 'module', id: 'qr-module', min: 1, max: 40, value: 8 });
  const urls = h('div', { id: 'channel-urls' });
  const image = (format) => call(`/api/channels/${channel.id}/qr.${format}?ec=${ec.value}&module=${size.value}`);
  const refresh = async () => {
    const response = await view.attempt(() => image('svg'));
    if (!response) return;
    const scanUrl = response.headers.get('x-scan-url') || '';
    preview.src = URL.createObjectURL(await response.blob());
    urls.replaceChildren(
      field(t('channels.scanUrl'), copyable(scanUrl, t('common.copy'), t('common.copied'))),
      field(t('channels.formUrl'), copyable(`${scanUrl}/form`, t('common.copy'), t('common.copied'))));
  };
  ec.addEventListener('change', refresh);
  size.addEventListener('change', refresh);
  const download = (format) => h('button', {
    type: 'button', id: `download-${format}`, class: 'secondary',
    onclick: async () => {
      const response = await view.attempt(() => image(format));
      if (response) saveFile(await response.blob(), `siyu-${channel.code}-${ec.value}.${format}`);
    },
  }, t(`channels.${format}`));
  const toggle = h('button', {
    type: 'button', id: 'toggle-active', class: 'secondary',
    onclick: async () => {
      const saved = await view.attempt(() => sendJson('PATCH', `/api/channels/${channel.id}`, { active: !channel.active }));
      if (saved) { await detail(view, id); view.notify(saved.active ? t('common.saved') : t('channels.retired')); }
    },
  }, channel.active ? t('channels.retire') : t('channels.reactivate'));
  const remove = h('button', {
    type: 'button', class: 'danger',
    onclick: async () => {
      if (!window.confirm(t('channels.confirmDelete'))) return;
      if (await view.attempt(() => sendJson('DELETE', `/api/channels/${channel.id}`))) {
        view.go('channels');
        view.notify(t('channels.deleted'));
      }
    },
  }, t('common.delete'));
  view.show(
    h('h1', null, channel.name, ' ', h('span', { class: channel.active ? 'badge ok' : 'badge' }, channel.active ? t('common.active') : t('common.inactive'))),
    h('p', { class: 'meta' }, `${t(`kind.${channel.kind}`)} · ${t('channels.code')} `, h('code', null, channel.code),
      channel.tags.length ? ` · ${t('channels.tags')}: ${channel.tags.join(', ')}` : ''),
    h('div', { class: 'columns' },
      h('section', { class: 'card qr' }, h('h2', null, t('channels.qr')), preview,
        h('div', { class: 'inline' }, field(t('channels.ec'), ec), field(t('channels.module'), size)),
        h('p', { class: 'actions' }, download('svg'), download('png'))),
      h('section', null, urls,
        h('h2', null, t('channels.stats')),
        h('div', { class: 'cards', id: 'channel-funnel' },
          STEPS.map(([step, label]) => h('div', { class: 'card stat' }, h('span', { class: 'label' }, t(label)),
            h('strong', null, number(stats[step]))))),
        h('figure', null, h('img', { src: chart, alt: `${t('funnel.byDay')}: ${channel.name}` }), h('figcaption', null, t('funnel.byDay'))),
        h('p', { class: 'actions' },
          h('a', { href: `#/channels/${channel.id}/edit`, class: 'button', id: 'edit-channel' }, t('common.edit')), toggle, remove))));
  await refresh();
}

async function printSheet(view) {
  const channels = (await allPages('/api/channels?limit=200', 2000)).filter((c) => c.active);
  const sheet = h('div', { class: 'sheet', id: 'print-sheet' });
  const chosen = new Set(channels.filter((c) => c.kind === 'package_card').map((c) => c.id));
  const draw = async () => {
    const cells = [];
    for (const channel of channels.filter((c) => chosen.has(c.id))) {
      const response = await call(`/api/channels/${channel.id}/qr.svg?ec=Q&module=8`);
      const url = response.headers.get('x-scan-url') || '';
      cells.push(h('figure', { class: 'label-card' },
        h('img', { src: URL.createObjectURL(await response.blob()), alt: channel.name }),
        h('figcaption', null, h('strong', null, channel.name), h('small', null, url))));
    }
    sheet.replaceChildren(...cells);
  };
  const picks = h('fieldset', { class: 'no-print' }, h('legend', null, t('channels.printHint')),
    channels.map((c) => checkbox(`${c.name} (${t(`kind.${c.kind}`)})`, {
      checked: chosen.has(c.id),
      onchange: (event) => { if (event.target.checked) chosen.add(c.id); else chosen.delete(c.id); draw(); },
    })));
  view.show(
    h('h1', { class: 'no-print' }, t('channels.printTitle')), picks,
    h('p', { class: 'actions no-print' }, h('button', { type: 'button', onclick: () => window.print() }, t('channels.printNow'))),
    sheet);
  await draw();
}
