// The console's frame: sign-in, the navigation, the language switch and the page router
// (`#/channels/ch_…`). Each page is a module with `render(view, ...params)`; a failing page
// shows its error instead of going blank.

import { h, replace } from './dom.js';
import { t, language, setLanguage, number, dateTime } from './i18n.js';
import { session, call, getJson, ApiFailure, whenSignedOut } from './api.js';
import * as overview from './overview.js';
import * as channels from './channels.js';
import * as customers from './customers.js';
import * as segments from './segments.js';
import * as campaigns from './campaigns.js';
import * as reminders from './reminders.js';
import * as settings from './settings.js';

const PAGES = { overview, channels, customers, segments, campaigns, reminders, settings };
const app = document.getElementById('app');
let signInMessage = null;

whenSignedOut((reason) => {
  signInMessage = { kind: 'error', text: t(reason === 'expired' ? 'signin.expired' : 'signin.revoked') };
  location.hash = '#/signin';
  render();
});

/** The view a page draws into, with what pages share. */
function view(main) {
  return {
    main,
    shop: session.shop(),
    owner: session.isOwner(),
    go: (path) => { location.hash = `#/${path}`; },
    /** Shows the page's content in place of what was there. */
    show: (...children) => replace(main, ...children),
    /** A message above the page: `kind` is `ok` or `error`. */
    notify(text, kind = 'ok') {
      const box = document.getElementById('notice');
      box.className = `notice ${kind}`;
      box.setAttribute('role', kind === 'error' ? 'alert' : 'status');
      box.textContent = text;
      box.hidden = false;
      box.scrollIntoView({ block: 'nearest' });
    },
    /** Runs `action`; an API error becomes a message rather than an exception. */
    async attempt(action, done) {
      try {
        const result = await action();
        if (done) this.notify(done);
        return result;
      } catch (error) {
        this.notify(describe(error), 'error');
        return undefined;
      }
    },
  };
}

/** What a person is told about a failure. */
export function describe(error) {
  if (error instanceof ApiFailure) {
    return error.status ? t('error.api', { message: error.message, code: error.code }) : error.message;
  }
  return t('error.unknown');
}

function languageSwitch() {
  const other = language() === 'zh-CN' ? 'en' : 'zh-CN';
  return h('button', {
    type: 'button', class: 'link', id: 'language', lang: other,
    onclick: () => { setLanguage(other); render(); },
  }, other === 'en' ? 'English' : '中文');
}

function signIn() {
  document.title = `${t('signin.title')} · Siyu`;
  const key = h('input', { type: 'password', id: 'api-key', name: 'key', required: true, autocomplete: 'off', spellcheck: 'false' });
  const message = h('p', { id: 'signin-message', class: signInMessage ? `notice ${signInMessage.kind}` : 'notice', role: 'alert', hidden: !signInMessage },
    signInMessage ? signInMessage.text : '');
  const form = h('form', { class: 'signin card' },
    h('h1', null, 'Siyu 私域'),
    h('p', null, t('signin.intro')),
    message,
    h('div', { class: 'field' }, h('label', { for: 'api-key' }, t('signin.key')), key),
    h('button', { type: 'submit', id: 'signin' }, t('signin.submit')),
    h('p', { class: 'hint' }, t('signin.privacy')));
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    const presented = key.value.trim();
    message.hidden = false;
    message.className = 'notice';
    message.textContent = t('signin.checking');
    try {
      const shop = await (await call('/api/shop', { key: presented })).json();
      // Only the owner key may list keys: that is how the console knows it is one.
      const owner = await call('/api/shop/keys', { key: presented }).then(() => true, () => false);
      session.start(presented, shop, owner);
      signInMessage = null;
      location.hash = '#/overview';
      render();
    } catch (error) {
      message.className = 'notice error';
      message.textContent = error instanceof ApiFailure && error.status === 401
        ? t('signin.invalid') : describe(error);
    }
  });
  app.replaceChildren(h('header', { class: 'bar' }, h('span', { class: 'brand' }, 'Siyu 私域'), languageSwitch()),
    h('main', { id: 'main' }, form));
  key.focus();
}

function frame(current) {
  const shop = session.shop();
  const links = Object.keys(PAGES).map((name) =>
    h('a', { href: `#/${name}`, 'aria-current': name === current ? 'page' : null }, t(`nav.${name}`)));
  const signOut = h('button', {
    type: 'button', class: 'link', id: 'signout',
    onclick: () => {
      session.end();
      signInMessage = { kind: 'ok', text: t('signin.signedOut') };
      location.hash = '#/signin';
      render();
    },
  }, t('nav.signout'));
  const main = h('main', { id: 'main', tabindex: '-1' });
  app.replaceChildren(
    h('header', { class: 'bar' },
      h('span', { class: 'brand' }, 'Siyu 私域'),
      h('span', { class: 'shop', title: shop.id }, shop.name),
      languageSwitch(), signOut),
    h('nav', { 'aria-label': t('nav.label') }, links),
    h('div', { id: 'health', role: 'status' }),
    h('div', { id: 'notice', hidden: true }),
    main);
  showHealth();
  return main;
}

/** Banners for what is wrong with the shop's periodic work (late reminders, a receiver that
 * keeps failing), with what to do; read again every minute while the console is open. */
async function showHealth() {
  const box = document.getElementById('health');
  if (!box || !session.key()) return;
  let status;
  try {
    status = await getJson('/api/shop/status');
  } catch {
    return;
  }
  const zone = session.shop().time_zone;
  const banners = status.notices.map((notice) => h('p', {
    class: 'notice error banner', id: `health-${notice.code}`,
  }, t(`health.${notice.code}`, {
    minutes: number(status.oldest_due_minutes),
    since: dateTime(notice.since, zone),
  })));
  replace(box, ...banners);
}

setInterval(showHealth, 60_000);

async function render() {
  document.documentElement.lang = language();
  const [name, ...params] = location.hash.replace(/^#\/?/, '').split('/').map(decodeURIComponent);
  if (session.expired()) {
    session.end();
    signInMessage = { kind: 'error', text: t('signin.expired') };
  }
  if (!session.key()) {
    signIn();
    return;
  }
  const page = PAGES[name] ? name : 'overview';
  const main = frame(page);
  document.title = `${t(`nav.${page}`)} · ${session.shop().name} · Siyu`;
  main.append(h('p', { class: 'loading' }, t('common.loading')));
  try {
    await PAGES[page].render(view(main), ...params);
  } catch (error) {
    if (!session.key()) return;
    main.replaceChildren(h('h1', null, t(`nav.${page}`)),
      h('p', { class: 'notice error', role: 'alert', id: 'page-error' }, describe(error)),
      h('p', null, h('a', { href: '#/overview' }, t('error.back'))));
  }
}

window.addEventListener('hashchange', render);
render();
