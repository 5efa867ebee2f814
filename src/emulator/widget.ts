/** What the server writes into the widget it serves. */
export interface WidgetSettings {
  /** Where the App Inbox API is, used when the script cannot tell where it was loaded from. */
  apiUrl: string;
  bellSelector: string | null;
  pollIntervalMs: number;
}

const settingsPlaceholder = '__RETENO_EMULATOR_SETTINGS__';

/** The widget script with `settings` written in as a JSON literal that is safe in any script context. */
export function renderWidgetScript(settings: WidgetSettings): string {
  return widgetSource.replace(settingsPlaceholder, () => scriptSafeJson(settings));
}

function scriptSafeJson(value: unknown): string {
  return JSON.stringify(value).replace(
    /[<>&\u2028\u2029]/g,
    (character) => `\\u${character.charCodeAt(0).toString(16).padStart(4, '0')}`,
  );
}

/**
 * The development stand-in for Reteno's website script, App Inbox only. Plain ES2017 for browsers, and fit for a
 * strict Content-Security-Policy: no eval, no HTML strings, styles only through CSSOM.
 */
const widgetSource = `/* Reteno emulator: a development stand-in for Reteno's website script (App Inbox only). */
(function () {
  'use strict';

  var SETTINGS = __RETENO_EMULATOR_SETTINGS__;
  var LOG_PREFIX = '[Reteno emulator]';
  var PANEL_ID = 'reteno-inbox-panel';
  var PAGE_SIZE = 20;
  var REQUEST_TIMEOUT_MS = 10000;
  var TOKEN_TIMEOUT_MS = 10000;
  var FAILURES_BEFORE_STOP = 3;
  var SVG_NS = 'http://www.w3.org/2000/svg';
  var BELL_PATH = 'M12 22a2 2 0 0 0 2-2h-4a2 2 0 0 0 2 2zm6-6v-5a6 6 0 0 0-5-5.9V4a1 1 0 0 0-2 0v1.1A6 6 0 0 0 6 11v5l-2 2v1h16v-1z';
  var LABELS = {
    en: {
      bell: 'Notifications',
      title: 'Notifications',
      empty: 'No notifications yet',
      close: 'Close',
      markAllRead: 'Mark all as read'
    },
    uk: {
      bell: 'Сповіщення',
      title: 'Сповіщення',
      empty: 'Сповіщень поки немає',
      close: 'Закрити',
      markAllRead: 'Позначити всі як прочитані'
    },
    de: {
      bell: 'Benachrichtigungen',
      title: 'Benachrichtigungen',
      empty: 'Noch keine Benachrichtigungen',
      close: 'Schließen',
      markAllRead: 'Alle als gelesen markieren'
    },
    es: {
      bell: 'Notificaciones',
      title: 'Notificaciones',
      empty: 'Aún no hay notificaciones',
      close: 'Cerrar',
      markAllRead: 'Marcar todas como leídas'
    },
    fr: {
      bell: 'Notifications',
      title: 'Notifications',
      empty: 'Aucune notification pour le moment',
      close: 'Fermer',
      markAllRead: 'Tout marquer comme lu'
    }
  };
  var STYLES = {
    bell: {
      'display': 'inline-flex',
      'align-items': 'center',
      'gap': '4px',
      'min-width': '44px',
      'height': '36px',
      'padding': '0 10px',
      'border': '1px solid #c8ccd4',
      'border-radius': '18px',
      'background': '#ffffff',
      'color': '#1f2430',
      'font': '600 14px/1 system-ui, sans-serif',
      'cursor': 'pointer'
    },
    cornerBell: { 'position': 'fixed', 'top': '16px', 'right': '16px', 'z-index': '2147483000' },
    panel: {
      'position': 'fixed',
      'z-index': '2147483001',
      'width': '360px',
      'max-width': 'calc(100vw - 16px)',
      'max-height': '70vh',
      'overflow': 'auto',
      'box-sizing': 'border-box',
      'padding': '12px 16px',
      'border': '1px solid #c8ccd4',
      'border-radius': '8px',
      'background': '#ffffff',
      'color': '#1f2430',
      'box-shadow': '0 8px 24px rgba(0, 0, 0, 0.18)',
      'font': '14px/1.4 system-ui, sans-serif',
      'text-align': 'left'
    },
    header: { 'display': 'flex', 'align-items': 'center', 'gap': '8px', 'margin-bottom': '8px' },
    title: { 'flex': '1', 'margin': '0', 'font-size': '16px' },
    button: {
      'padding': '4px 8px',
      'border': '1px solid #c8ccd4',
      'border-radius': '4px',
      'background': '#f4f5f7',
      'color': 'inherit',
      'font': 'inherit',
      'cursor': 'pointer'
    },
    empty: { 'margin': '16px 0', 'color': '#5c6370' },
    list: { 'margin': '0', 'padding': '0', 'list-style': 'none' },
    message: { 'padding': '8px', 'border-top': '1px solid #e6e8ec', 'cursor': 'pointer' },
    unread: { 'background': '#eef4ff', 'font-weight': '600' },
    read: { 'background': 'transparent', 'font-weight': '400' },
    content: { 'margin': '4px 0 0', 'font-weight': '400' },
    time: { 'display': 'block', 'margin-top': '4px', 'color': '#5c6370', 'font-size': '12px', 'font-weight': '400' }
  };

  var stub = window.eS;
  if (typeof stub === 'function' && stub.retenoEmulator === true) return;

  var apiUrl = baseUrlOfThisScript() || SETTINGS.apiUrl;
  var initialised = false;

  function eS() {
    run(arguments);
  }
  eS.retenoEmulator = true;

  var queued = stub && stub.q && typeof stub.q.length === 'number' ? Array.prototype.slice.call(stub.q) : [];
  if (typeof stub === 'function') {
    // Calls made through a reference to the loader's stub reach the widget too.
    stub.c = function (args) {
      run(args);
    };
    stub.q = [];
  }
  window.eS = eS;
  for (var index = 0; index < queued.length; index += 1) run(unwrapQueued(queued[index]));

  // The loader's f.c pushes its own arguments, whose first item is the arguments of the page's eS(...) call.
  function unwrapQueued(entry) {
    var first = entry && entry[0];
    return first && typeof first === 'object' && typeof first.length === 'number' ? first : entry;
  }

  function run(args) {
    try {
      // Tracking, recommendations and every command but init are not emulated: ignored on purpose.
      if (!args || args[0] !== 'init') return;
      if (initialised) {
        console.warn(LOG_PREFIX + ' eS("init") was called again; only the first call of a page counts.');
        return;
      }
      initialised = true;
      init(args[1], args[2]);
    } catch (error) {
      console.info(LOG_PREFIX + ' eS() failed: ' + describe(error));
    }
  }

  function init(features, settings) {
    if (!features || features.APP_INBOX !== true) return;
    if (!settings || typeof settings.getAuthTokenCallback !== 'function') {
      console.warn(
        LOG_PREFIX +
          ' App Inbox needs eS("init", {APP_INBOX: true}, {getAuthTokenCallback: () => fetchToken(), language: "en"}).'
      );
      return;
    }
    var inbox = createInbox(settings.getAuthTokenCallback, pickLanguage(settings.language));
    if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', inbox.start, { once: true });
    else inbox.start();
  }

  function createInbox(getAuthToken, language) {
    var labels = LABELS[language];
    var FAILED = {};
    var token = '';
    var queue = Promise.resolve();
    var stopped = false;
    var failuresInARow = 0;
    var pollTimer = 0;
    var ui = null;

    function StopSignal(reason) {
      this.reason = reason;
    }

    function stop(reason) {
      if (stopped) return;
      stopped = true;
      clearTimeout(pollTimer);
      if (ui) {
        remove(ui.bell);
        remove(ui.panel);
        document.removeEventListener('keydown', onDocumentKeydown);
        ui = null;
      }
      console.info(LOG_PREFIX + ' App Inbox stopped: ' + reason + '.');
    }

    // Every call goes through one queue: each answer carries the token the next request needs.
    function call(method, path, body, read) {
      var result = queue.then(function () {
        if (stopped) return FAILED;
        return request(method, path, body)
          .then(read)
          .then(
            function (value) {
              failuresInARow = 0;
              return value;
            },
            function (error) {
              if (error instanceof StopSignal) {
                stop(error.reason);
              } else {
                failuresInARow += 1;
                if (failuresInARow >= FAILURES_BEFORE_STOP) {
                  stop('the App Inbox API failed ' + failuresInARow + ' times in a row (' + describe(error) + ')');
                }
              }
              return FAILED;
            }
          );
      });
      queue = result;
      return result;
    }

    async function request(method, path, body) {
      var answer = await send(method, path, body);
      if (answer.status === 401) {
        token = '';
        answer = await send(method, path, body);
        if (answer.status === 401) throw new StopSignal('the App Inbox API refused a fresh token');
      }
      if (answer.status < 200 || answer.status > 299) throw new Error('HTTP ' + answer.status);
      return answer.text;
    }

    async function send(method, path, body) {
      if (!token) token = await fetchToken();
      var headers = { 'ES-TOKEN': token };
      if (body !== undefined) headers['Content-Type'] = 'application/json';
      var controller = new AbortController();
      var timer = setTimeout(function () {
        controller.abort();
      }, REQUEST_TIMEOUT_MS);
      try {
        var response = await fetch(apiUrl + path, {
          method: method,
          headers: headers,
          body: body === undefined ? undefined : JSON.stringify(body),
          credentials: 'omit',
          cache: 'no-store',
          signal: controller.signal
        });
        var next = response.headers.get('ES-TOKEN');
        if (next) token = next;
        return { status: response.status, text: await response.text() };
      } finally {
        clearTimeout(timer);
      }
    }

    async function fetchToken() {
      var value;
      try {
        value = await withTimeout(
          new Promise(function (resolve) {
            resolve(getAuthToken());
          }),
          TOKEN_TIMEOUT_MS
        );
      } catch (error) {
        throw new StopSignal('getAuthTokenCallback failed (' + describe(error) + ')');
      }
      if (typeof value !== 'string' || value === '') {
        throw new StopSignal('getAuthTokenCallback gave no token (Reteno may not know this contact)');
      }
      return value;
    }

    function readCount(text) {
      var data = JSON.parse(text);
      if (!data || typeof data.count !== 'number' || !(data.count >= 0)) throw new Error('unexpected count answer');
      return Math.floor(data.count);
    }

    function readList(text) {
      var data = JSON.parse(text);
      if (!data || !Array.isArray(data.list)) throw new Error('unexpected message list answer');
      return data.list.filter(function (message) {
        return message !== null && typeof message === 'object';
      });
    }

    function ignoreBody() {
      return null;
    }

    async function refreshCount() {
      var count = await call('GET', '/appinbox/v1/messages/count', undefined, readCount);
      if (count === FAILED || stopped) return;
      if (!ui) ui = buildUi();
      ui.count.nodeValue = String(count);
    }

    async function loadMessages() {
      var messages = await call('GET', '/appinbox/v1/messages?page=1&pageSize=' + PAGE_SIZE, undefined, readList);
      if (messages === FAILED || !ui) return;
      // The list is rebuilt on every poll: keep keyboard focus on the message that had it.
      var focused = messageOf(document.activeElement);
      var focusedId = focused && ui.list.contains(focused) ? focused.getAttribute('data-id') : null;
      while (ui.list.firstChild) ui.list.removeChild(ui.list.firstChild);
      for (var i = 0; i < messages.length; i += 1) {
        var item = ui.list.appendChild(renderMessage(messages[i]));
        if (focusedId !== null && item.getAttribute('data-id') === focusedId) item.focus();
      }
      ui.empty.hidden = messages.length > 0;
    }

    async function openMessage(item) {
      if (item.getAttribute('data-status') === 'OPENED') return;
      var id = item.getAttribute('data-id');
      var result = await call('POST', '/appinbox/v1/messages/status', { status: 'OPENED', ids: [id] }, ignoreBody);
      if (result === FAILED || !ui) return;
      // A poll may have rebuilt the list meanwhile: mark the item that is shown now.
      var items = ui.list.querySelectorAll('[data-reteno-inbox-message]');
      for (var i = 0; i < items.length; i += 1) {
        if (items[i].getAttribute('data-id') === id) markRead(items[i]);
      }
      await refreshCount();
    }

    async function markAllRead() {
      var result = await call('POST', '/appinbox/v1/messages/status', { status: 'OPENED', ids: null }, ignoreBody);
      if (result === FAILED || !ui) return;
      var items = ui.list.querySelectorAll('[data-reteno-inbox-message]');
      for (var i = 0; i < items.length; i += 1) markRead(items[i]);
      await refreshCount();
    }

    function poll() {
      var work = refreshCount();
      if (ui && !ui.panel.hidden) work = work.then(loadMessages);
      return work.then(schedulePoll);
    }

    function schedulePoll() {
      if (!stopped) pollTimer = setTimeout(safely(poll), SETTINGS.pollIntervalMs);
    }

    function buildUi() {
      var bell = element('button', {
        type: 'button',
        'data-reteno-inbox-bell': '',
        'aria-label': labels.bell,
        'aria-haspopup': 'dialog',
        'aria-expanded': 'false',
        'aria-controls': PANEL_ID
      });
      bell.appendChild(bellIcon());
      var count = document.createTextNode('0');
      bell.appendChild(count);
      css(bell, STYLES.bell);
      var host = bellHost();
      if (host) {
        host.appendChild(bell);
      } else {
        css(bell, STYLES.cornerBell);
        document.body.appendChild(bell);
      }

      var panel = element('section', {
        id: PANEL_ID,
        role: 'dialog',
        lang: language,
        'aria-label': labels.title,
        'data-reteno-inbox-panel': ''
      });
      panel.hidden = true;
      css(panel, STYLES.panel);
      var header = element('div', {});
      css(header, STYLES.header);
      var title = element('h2', { 'data-reteno-inbox-title': '' }, labels.title);
      css(title, STYLES.title);
      var markAll = element('button', { type: 'button', 'data-reteno-inbox-mark-all': '' }, labels.markAllRead);
      css(markAll, STYLES.button);
      var close = element('button', { type: 'button', 'data-reteno-inbox-close': '' }, labels.close);
      css(close, STYLES.button);
      header.appendChild(title);
      header.appendChild(markAll);
      header.appendChild(close);
      var empty = element('p', { 'data-reteno-inbox-empty': '' }, labels.empty);
      empty.hidden = true;
      css(empty, STYLES.empty);
      var list = element('ul', { 'data-reteno-inbox-list': '' });
      css(list, STYLES.list);
      panel.appendChild(header);
      panel.appendChild(empty);
      panel.appendChild(list);
      document.body.appendChild(panel);

      bell.addEventListener('click', safely(onBellClick));
      close.addEventListener('click', safely(closePanel));
      markAll.addEventListener('click', safely(markAllRead));
      list.addEventListener('click', safely(onListClick));
      list.addEventListener('keydown', safely(onListKeydown));
      document.addEventListener('keydown', onDocumentKeydown);
      return { bell: bell, count: count, panel: panel, list: list, empty: empty };
    }

    function renderMessage(message) {
      var opened = message.status === 'OPENED';
      var item = element('li', {
        tabindex: '0',
        'data-reteno-inbox-message': '',
        'data-id': String(message.id),
        'data-status': opened ? 'OPENED' : 'UNOPENED'
      });
      css(item, STYLES.message);
      css(item, opened ? STYLES.read : STYLES.unread);
      var href = httpUrl(message.link);
      var title = href
        ? element('a', { href: href, target: '_blank', rel: 'noopener noreferrer' }, text(message.title))
        : element('span', {}, text(message.title));
      title.setAttribute('data-reteno-inbox-message-title', '');
      item.appendChild(title);
      var content = element('p', { 'data-reteno-inbox-message-content': '' }, text(message.content));
      css(content, STYLES.content);
      item.appendChild(content);
      var created = new Date(message.createdDate);
      if (typeof message.createdDate === 'number' && !isNaN(created.getTime())) {
        var time = element('time', { datetime: created.toISOString() }, created.toLocaleString(language));
        css(time, STYLES.time);
        item.appendChild(time);
      }
      return item;
    }

    function markRead(item) {
      item.setAttribute('data-status', 'OPENED');
      css(item, STYLES.read);
    }

    function onBellClick() {
      var opening = ui.panel.hidden ? openPanel() : closePanel();
      return Promise.all([opening, refreshCount()]);
    }

    function openPanel() {
      var rect = ui.bell.getBoundingClientRect();
      var right = Math.max(8, Math.min(window.innerWidth - rect.right, window.innerWidth - 368));
      css(ui.panel, { top: Math.round(rect.bottom + 8) + 'px', right: Math.round(right) + 'px' });
      ui.panel.hidden = false;
      ui.bell.setAttribute('aria-expanded', 'true');
      return loadMessages();
    }

    function closePanel() {
      if (!ui) return;
      ui.panel.hidden = true;
      ui.bell.setAttribute('aria-expanded', 'false');
    }

    function onListClick(event) {
      var item = messageOf(event.target);
      if (item) return openMessage(item);
    }

    function onListKeydown(event) {
      if (event.key !== 'Enter' && event.key !== ' ') return;
      var item = messageOf(event.target);
      if (item && item === event.target) {
        event.preventDefault();
        return openMessage(item);
      }
    }

    function onDocumentKeydown(event) {
      if (event.key === 'Escape' && ui && !ui.panel.hidden) {
        closePanel();
        ui.bell.focus();
      }
    }

    function messageOf(target) {
      return target && typeof target.closest === 'function' ? target.closest('[data-reteno-inbox-message]') : null;
    }

    // Event handlers and timers must never throw or reject where the page would see it.
    function safely(handler) {
      return function (event) {
        try {
          var result = handler(event);
          if (result && typeof result.then === 'function') result.then(undefined, fail);
        } catch (error) {
          fail(error);
        }
      };
    }

    function fail(error) {
      stop('unexpected error (' + describe(error) + ')');
    }

    return {
      start: safely(function () {
        return refreshCount().then(schedulePoll);
      })
    };
  }

  function baseUrlOfThisScript() {
    var script = document.currentScript;
    if (!script || !script.src) return null;
    try {
      var url = new URL(script.src);
      var at = url.pathname.lastIndexOf('/scripts/');
      return at === -1 ? null : url.origin + url.pathname.slice(0, at);
    } catch (error) {
      return null;
    }
  }

  function pickLanguage(language) {
    var primary = typeof language === 'string' ? language.toLowerCase().split(/[-_]/)[0] : '';
    return Object.prototype.hasOwnProperty.call(LABELS, primary) ? primary : 'en';
  }

  function bellHost() {
    if (!SETTINGS.bellSelector) return null;
    try {
      return document.querySelector(SETTINGS.bellSelector);
    } catch (error) {
      console.info(LOG_PREFIX + ' bellSelector is not a valid CSS selector; the bell goes in the corner.');
      return null;
    }
  }

  function bellIcon() {
    var svg = document.createElementNS(SVG_NS, 'svg');
    svg.setAttribute('width', '16');
    svg.setAttribute('height', '16');
    svg.setAttribute('viewBox', '0 0 24 24');
    svg.setAttribute('aria-hidden', 'true');
    svg.setAttribute('focusable', 'false');
    var path = document.createElementNS(SVG_NS, 'path');
    path.setAttribute('d', BELL_PATH);
    path.setAttribute('fill', 'currentColor');
    svg.appendChild(path);
    return svg;
  }

  function element(tag, attributes, textContent) {
    var node = document.createElement(tag);
    for (var name in attributes) {
      if (Object.prototype.hasOwnProperty.call(attributes, name)) node.setAttribute(name, attributes[name]);
    }
    if (textContent !== undefined) node.textContent = textContent;
    return node;
  }

  function css(node, styles) {
    for (var name in styles) {
      if (Object.prototype.hasOwnProperty.call(styles, name)) node.style.setProperty(name, styles[name]);
    }
  }

  function remove(node) {
    if (node && node.parentNode) node.parentNode.removeChild(node);
  }

  function httpUrl(value) {
    if (typeof value !== 'string') return null;
    try {
      var url = new URL(value);
      return url.protocol === 'http:' || url.protocol === 'https:' ? url.href : null;
    } catch (error) {
      return null;
    }
  }

  function text(value) {
    return typeof value === 'string' ? value : '';
  }

  function describe(error) {
    return error && error.message ? String(error.message) : String(error);
  }

  function withTimeout(promise, ms) {
    return new Promise(function (resolve, reject) {
      var timer = setTimeout(function () {
        reject(new Error('no answer within ' + ms + ' ms'));
      }, ms);
      promise.then(
        function (value) {
          clearTimeout(timer);
          resolve(value);
        },
        function (error) {
          clearTimeout(timer);
          reject(error);
        }
      );
    });
  }
})();
`;
