// Building pages from data without ever parsing data as HTML: every value goes into the
// page as a text node or an attribute, so a name like "<script>" shows as text.

/** An element: `attrs` are attributes (`on…` adds a listener, `class`, booleans as flags). */
export function h(tag, attrs, ...children) {
  const element = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (name.startsWith('on')) element.addEventListener(name.slice(2), value);
    else if (value === true) element.setAttribute(name, '');
    else element.setAttribute(name, String(value));
  }
  append(element, children);
  return element;
}

export function append(element, children) {
  for (const child of [children].flat(Infinity)) {
    if (child === undefined || child === null || child === false) continue;
    element.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return element;
}

/** Replaces `element`'s content with `children` (absent ones skipped, as in `h`). */
export function replace(element, ...children) {
  element.replaceChildren();
  return append(element, children);
}

/** A table whose column heads sort it (numbers as numbers); `columns`: {label, value, cell?, numeric?}. */
export function sortableTable(columns, rows, caption) {
  let sortBy = -1;
  let descending = false;
  const body = h('tbody');
  const heads = columns.map((column, index) =>
    h('th', { scope: 'col', 'aria-sort': 'none' },
      h('button', { type: 'button', class: 'sort', onclick: () => sort(index) }, column.label)));
  const fill = () => {
    const ordered = [...rows];
    if (sortBy >= 0) {
      const value = columns[sortBy].value;
      ordered.sort((a, b) => {
        const x = value(a);
        const y = value(b);
        const order = typeof x === 'number' && typeof y === 'number' ? x - y : String(x).localeCompare(String(y));
        return descending ? -order : order;
      });
    }
    body.replaceChildren(...ordered.map((row) => h('tr', null, columns.map((column) =>
      h('td', { class: column.numeric ? 'num' : null },
        column.cell ? column.cell(row) : column.value(row))))));
  };
  const sort = (index) => {
    descending = sortBy === index ? !descending : true;
    sortBy = index;
    heads.forEach((head, i) => head.setAttribute('aria-sort',
      i === index ? (descending ? 'descending' : 'ascending') : 'none'));
    fill();
  };
  fill();
  return h('div', { class: 'table-wrap' },
    h('table', null, caption ? h('caption', null, caption) : null, h('thead', null, h('tr', null, heads)), body));
}

/** A simple table of rows already made into cells. */
export function plainTable(heads, rows) {
  return h('div', { class: 'table-wrap' }, h('table', null,
    h('thead', null, h('tr', null, heads.map((text) => h('th', { scope: 'col' }, text)))),
    h('tbody', null, rows.map((cells) => h('tr', null, cells.map((cell) => h('td', null, cell)))))));
}

/** A labelled form field; `input` is the control. */
export function field(label, input, hint) {
  const id = input.id || `f-${Math.random().toString(36).slice(2, 9)}`;
  input.id = id;
  return h('div', { class: 'field' }, h('label', { for: id }, label), input,
    hint ? h('small', { class: 'hint' }, hint) : null);
}

export function input(attrs) {
  return h('input', { type: 'text', ...attrs });
}

export function select(attrs, options, chosen) {
  return h('select', attrs, options.map(([value, label]) =>
    h('option', { value, selected: value === chosen }, label)));
}

export function checkbox(label, attrs) {
  const box = h('input', { type: 'checkbox', ...attrs });
  return h('label', { class: 'check' }, box, ' ', label);
}

/** A read-only copy of a value with a button that copies it. */
export function copyable(value, buttonLabel, copiedLabel) {
  const box = h('input', { type: 'text', readonly: true, value, class: 'copy-value', 'aria-label': value });
  const button = h('button', { type: 'button', class: 'secondary' }, buttonLabel);
  button.addEventListener('click', async () => {
    box.select();
    try {
      await navigator.clipboard.writeText(value);
    } catch {
      // No clipboard API outside secure contexts: the selected text copies with Ctrl+C.
      document.execCommand?.('copy');
    }
    button.textContent = copiedLabel;
    setTimeout(() => { button.textContent = buttonLabel; }, 1500);
  });
  return h('div', { class: 'copy' }, box, button);
}

/** Saves `blob` as a file the browser downloads. */
export function saveFile(blob, name) {
  const url = URL.createObjectURL(blob);
  const link = h('a', { href: url, download: name, class: 'hidden' });
  document.body.append(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(url), 60_000);
}

/** Form values by name (checkboxes as booleans). */
export function formValues(form) {
  const values = {};
  for (const element of form.elements) {
    if (!element.name) continue;
    values[element.name] = element.type === 'checkbox' ? element.checked : element.value.trim();
  }
  return values;
}

/** Comma- or line-separated text as a list of trimmed, non-empty items. */
export function list(text) {
  return String(text || '').split(/[,，\n]/).map((s) => s.trim()).filter(Boolean);
}

/** Random hex for idempotency keys (crypto.randomUUID needs a secure context). */
export function randomKey() {
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  return Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('');
}
