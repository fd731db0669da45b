// Segments and rules: tags and RFM groups with their counts, a segment's members a page at a
// time, its CSV export (full contacts only when the key may), and the tagging rules with a
// form for the common conditions and the JSON tree for the rest.

import { h, field, input, select, checkbox, plainTable, saveFile, formValues } from './dom.js';
import { t, number, toMinor } from './i18n.js';
import { getJson, sendJson, allPages, csvPages, RFM_GROUPS } from './api.js';

const CONDITIONS = ['net_spend', 'order_count', 'days_since_last_order', 'bought', 'channel', 'rfm_group'];

export async function render(view, kind, name, action) {
  if (kind === 'tag' || kind === 'rfm') return members(view, kind, name);
  if (kind === 'rules') return action ? ruleForm(view, name === 'new' ? null : name) : rules(view);
  const [tags, rfm] = await Promise.all([allPages('/api/tags?limit=200', 2000), getJson('/api/rfm')]);
  view.show(
    h('h1', null, t('segments.title')),
    h('p', { class: 'actions' }, h('a', { href: '#/segments/rules', class: 'button', id: 'rules-link' }, t('segments.rules'))),
    h('div', { class: 'columns' },
      h('section', null, h('h2', null, t('segments.tags')),
        tags.length ? plainTable([t('segments.tag'), t('segments.customers')], tags.map((tag) => [
          h('a', { href: `#/segments/tag/${encodeURIComponent(tag.name)}` }, tag.name), number(tag.customers)])) : h('p', { class: 'empty' }, t('common.none'))),
      h('section', null, h('h2', null, t('segments.rfm')),
        plainTable([t('overview.group'), t('segments.customers')], [
          ...rfm.groups.map((g) => [h('a', { href: `#/segments/rfm/${g.group}` }, t(`rfm.${g.group}`)), number(g.customers)]),
          [h('a', { href: '#/segments/rfm/super_users' }, t('rfm.super_users')), number(rfm.super_users)]]))));
}

async function members(view, kind, name) {
  const base = kind === 'tag' ? `/api/tags/${encodeURIComponent(name)}` : `/api/rfm/${encodeURIComponent(name)}`;
  const title = kind === 'tag' ? name : t(`rfm.${name}`);
  const body = h('tbody');
  const more = h('button', { type: 'button', class: 'secondary', hidden: true }, t('common.more'));
  let cursor = null;
  const load = async () => {
    const page = await getJson(`${base}/customers?limit=50${cursor !== null ? `&cursor=${cursor}` : ''}`);
    body.append(...page.items.map((m) => h('tr', null,
      h('td', null, h('a', { href: `#/customers/${m.id}` }, [m.first_name, m.last_name].filter(Boolean).join(' ') || m.id)),
      h('td', null, m.phone || '—'), h('td', null, m.email || '—'),
      h('td', null, m.marketing_consent === true ? t('customers.granted') : m.marketing_consent === false ? t('customers.withdrawn') : t('customers.unknown')),
      h('td', { class: 'num' }, number(m.order_count)))));
    cursor = page.next_cursor;
    more.hidden = cursor === null;
  };
  more.addEventListener('click', () => view.attempt(load));
  const exportForm = h('form', { class: 'card', id: 'export' },
    checkbox(t('segments.full'), { name: 'full', id: 'export-full' }),
    checkbox(t('segments.consented'), { name: 'consented' }),
    h('button', { type: 'submit', id: 'export-csv' }, t('segments.export')));
  exportForm.addEventListener('submit', async (event) => {
    event.preventDefault();
    const v = formValues(exportForm);
    const rows = await view.attempt(async () => {
      const { csv, rows: count } = await csvPages((cursor) => {
        const query = new URLSearchParams({ limit: '1000', contacts: v.full ? 'full' : 'masked' });
        if (v.consented) query.set('consent', 'granted');
        if (cursor) query.set('cursor', cursor);
        return `${base}/export?${query}`;
      });
      saveFile(new Blob([csv], { type: 'text/csv' }), `siyu-${kind}-${name}.csv`.replace(/[^\w.-]+/g, '_'));
      return count;
    });
    if (rows !== undefined) view.notify(t('segments.exported', { rows }));
  });
  view.show(
    h('h1', null, `${t('segments.members')}: ${title}`), exportForm,
    h('div', { class: 'table-wrap' }, h('table', { id: 'members' },
      h('thead', null, h('tr', null, [t('common.name'), t('customers.phone'), t('customers.email'), t('customers.consent'), t('customers.orderCount')]
        .map((text) => h('th', { scope: 'col' }, text)))), body)),
    more);
  await load();
}

async function rules(view) {
  const list = (await getJson('/api/rules')).items;
  view.show(
    h('h1', null, t('segments.rules')),
    h('p', { class: 'actions' }, h('a', { href: '#/segments/rules/new/edit', class: 'button', id: 'new-rule' }, t('segments.newRule'))),
    list.length ? plainTable([t('common.name'), t('segments.tag'), t('segments.action'), t('common.status'), t('segments.condition')], list.map((rule) => [
      h('a', { href: `#/segments/rules/${rule.id}/edit` }, rule.name),
      h('a', { href: `#/segments/tag/${encodeURIComponent(rule.tag)}` }, rule.tag),
      t(`segments.${rule.action}`), rule.active ? t('common.active') : t('common.inactive'),
      h('code', { class: 'condition' }, JSON.stringify(rule.condition))])) : h('p', { class: 'empty' }, t('common.none')));
}

/** One row of the common-conditions builder. */
function conditionRow(channels, currency) {
  const value = input({ name: 'value', required: true, 'aria-label': t('customers.value') });
  const within = input({ name: 'within', type: 'number', min: 1, max: 730, placeholder: t('cond.within'), 'aria-label': t('cond.within') });
  const choice = select({ name: 'channel', hidden: true, 'aria-label': t('cond.channel') }, channels.map((c) => [c.id, c.name]));
  const group = select({ name: 'group', hidden: true, 'aria-label': t('cond.rfm_group') }, RFM_GROUPS.map((g) => [g, t(`rfm.${g}`)]));
  const type = select({ name: 'type', class: 'condition-type', 'aria-label': t('segments.condition') }, CONDITIONS.map((c) => [c, t(`cond.${c}`)]), 'net_spend');
  const show = () => {
    const kind = type.value;
    value.hidden = kind === 'channel' || kind === 'rfm_group';
    value.required = !value.hidden;
    within.hidden = !['net_spend', 'order_count', 'bought'].includes(kind);
    choice.hidden = kind !== 'channel';
    group.hidden = kind !== 'rfm_group';
  };
  type.addEventListener('change', show);
  show();
  const row = h('div', { class: 'condition-row' }, type, value, within, choice, group,
    h('button', { type: 'button', class: 'link', 'aria-label': t('common.delete'), onclick: () => row.remove() }, '×'));
  row.condition = () => {
    const days = within.value ? { within_days: Number(within.value) } : {};
    switch (type.value) {
      case 'net_spend': return { net_spend: { gte: toMinor(value.value, currency), ...days } };
      case 'order_count': return { order_count: { gte: Number(value.value), ...days } };
      case 'days_since_last_order': return { days_since_last_order: { gte: Number(value.value) } };
      case 'bought': return { bought: { [/^\d+$/.test(value.value) ? 'product_id' : 'sku']: value.value, ...days } };
      case 'channel': return { channel: choice.value };
      default: return { rfm_group: group.value };
    }
  };
  return row;
}

async function ruleForm(view, id) {
  const [rule, channels] = await Promise.all([
    id ? getJson(`/api/rules/${encodeURIComponent(id)}`) : null,
    allPages('/api/channels?limit=200', 2000),
  ]);
  const rows = h('div', { class: 'conditions', id: 'conditions' });
  const addRow = () => rows.append(conditionRow(channels, view.shop.currency));
  const json = h('textarea', { name: 'json', id: 'rule-json', rows: 6, spellcheck: 'false' }, rule ? JSON.stringify(rule.condition, null, 2) : '');
  const useJson = checkbox(t('segments.useJson'), { name: 'use_json', id: 'use-json', checked: Boolean(rule) });
  const form = h('form', { class: 'card', id: 'rule-form' },
    field(t('common.name'), input({ name: 'name', required: true, value: rule?.name })),
    field(t('segments.tag'), input({ name: 'tag', required: true, value: rule?.tag, id: 'rule-tag' })),
    field(t('segments.action'), select({ name: 'action' }, [['add', t('segments.add')], ['remove', t('segments.remove')]], rule?.action || 'add')),
    field(t('segments.match'), select({ name: 'combine' }, [['all', t('segments.all')], ['any', t('segments.any')]], 'all')),
    rows,
    h('p', null, h('button', { type: 'button', class: 'secondary', onclick: addRow }, t('segments.addCondition'))),
    useJson, field(t('segments.json'), json),
    checkbox(t('common.active'), { name: 'active', checked: rule ? rule.active : true }),
    h('p', { class: 'actions' }, h('button', { type: 'submit', id: 'save-rule' }, t('common.save')),
      rule ? h('button', {
        type: 'button', class: 'danger',
        onclick: async () => {
          if (await view.attempt(() => sendJson('DELETE', `/api/rules/${rule.id}`))) { view.go('segments/rules'); view.notify(t('segments.ruleDeleted')); }
        },
      }, t('common.delete')) : null));
  if (!rule) addRow();
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    const v = formValues(form);
    let condition;
    if (v.use_json) {
      try {
        condition = JSON.parse(v.json);
      } catch (error) {
        view.notify(`${t('segments.json')}: ${error.message}`, 'error');
        return;
      }
    } else {
      const parts = [...rows.children].map((row) => row.condition());
      condition = parts.length === 1 ? parts[0] : { [v.combine]: parts };
    }
    const body = { name: v.name, tag: v.tag, action: v.action, active: v.active, condition };
    const saved = await view.attempt(() => (rule ? sendJson('PATCH', `/api/rules/${rule.id}`, body) : sendJson('POST', '/api/rules', body)));
    if (saved) { view.go('segments/rules'); view.notify(t('segments.ruleSaved')); }
  });
  view.show(h('h1', null, rule ? rule.name : t('segments.newRule')), form);
}
