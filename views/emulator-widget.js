// @ts-check
/*
 * Reteno emulator: a development stand-in for Reteno's website script, App Inbox only. The emulator serves this file
 * at /scripts/<scriptId>.js with its settings written in. Plain ES2017 for browsers, and fit for a strict
 * Content-Security-Policy: no eval, no HTML strings, styles only through CSSOM.
 */

/**
 * @typedef {object} EmulatorWidgetSettings What the emulator writes in when it serves this file.
 * @property {string} apiUrl Where the App Inbox API is, used when the script cannot tell where it was loaded from.
 * @property {string | null} bellSelector The element the bell goes in; `null` for a bell fixed in the corner.
 * @property {number} pollIntervalMs How often the unread count is refreshed.
 */

/**
 * @typedef {((...args: unknown[]) => void) & {
 *   q?: ArrayLike<unknown>,
 *   c?: (args: ArrayLike<unknown>) => void,
 *   retenoEmulator?: boolean
 * }} EmulatorWidgetCommand Reteno's `eS` function: the loader's stub (`q` queue, `c` collector) or this widget.
 */

/**
 * @typedef {object} EmulatorWidgetUi
 * @property {HTMLButtonElement} bell
 * @property {HTMLSpanElement} badge The unread count on the bell; hidden at 0.
 * @property {HTMLElement} panel
 * @property {HTMLHeadingElement} title Where focus goes when the panel opens.
 * @property {HTMLUListElement} list
 * @property {HTMLParagraphElement} empty
 * @property {HTMLButtonElement} showOlder Loads the next page of older messages; hidden when there is none.
 * @property {HTMLElement} announcer A polite live region that tells screen readers about new messages.
 */

/** @typedef {'en' | 'uk' | 'de' | 'es' | 'fr'} Language */

/**
 * @typedef {{ other: string } & Partial<Record<Intl.LDMLPluralRule, string>>} PluralForms
 * A phrase with a count, one form per plural category of the language; `{n}` stands for the count.
 */

/**
 * @typedef {object} Labels
 * @property {string} bell The bell's name, followed by the unread count.
 * @property {string} title
 * @property {string} empty
 * @property {string} close
 * @property {string} markAllRead
 * @property {string} showOlder
 * @property {string} unreadMark The visible mark of an unread message.
 * @property {PluralForms} unread How many messages are unread, in the bell's name.
 * @property {PluralForms} arrived What the live region says when messages arrive.
 */

/**
 * @typedef {object} MessagePage
 * @property {Record<string, unknown>[]} list
 * @property {number} totalPages
 */

(() => {
  // biome-ignore lint/suspicious/noRedundantUseStrict: browsers load this file as a classic script, not a module.
  'use strict';

  /** @type {EmulatorWidgetSettings} The emulator replaces this literal with its settings when it serves the file. */
  const SETTINGS = { apiUrl: '', bellSelector: null, pollIntervalMs: 5000 };

  const LOG_PREFIX = '[Reteno emulator]';
  const PANEL_ID = 'reteno-inbox-panel';
  const PAGE_SIZE = 20;
  const REQUEST_TIMEOUT_MS = 10000;
  const TOKEN_TIMEOUT_MS = 10000;
  const FAILURES_BEFORE_STOP = 3;
  const SVG_NS = 'http://www.w3.org/2000/svg';
  const BELL_PATH =
    'M12 22a2 2 0 0 0 2-2h-4a2 2 0 0 0 2 2zm6-6v-5a6 6 0 0 0-5-5.9V4a1 1 0 0 0-2 0v1.1A6 6 0 0 0 6 11v5l-2 2v1h16v-1z';
  /** @type {Record<Language, Labels>} */
  const LABELS = {
    en: {
      bell: 'Notifications',
      title: 'Notifications',
      empty: 'No notifications yet',
      close: 'Close',
      markAllRead: 'Mark all as read',
      showOlder: 'Show older',
      unreadMark: 'Unread',
      unread: { other: '{n} unread' },
      arrived: { one: '{n} new notification', other: '{n} new notifications' },
    },
    uk: {
      bell: 'Сповіщення',
      title: 'Сповіщення',
      empty: 'Сповіщень поки немає',
      close: 'Закрити',
      markAllRead: 'Позначити всі як прочитані',
      showOlder: 'Показати старіші',
      unreadMark: 'Непрочитане',
      unread: {
        one: '{n} непрочитане',
        few: '{n} непрочитані',
        many: '{n} непрочитаних',
        other: '{n} непрочитаного',
      },
      arrived: {
        one: '{n} нове сповіщення',
        few: '{n} нові сповіщення',
        many: '{n} нових сповіщень',
        other: '{n} нового сповіщення',
      },
    },
    de: {
      bell: 'Benachrichtigungen',
      title: 'Benachrichtigungen',
      empty: 'Noch keine Benachrichtigungen',
      close: 'Schließen',
      markAllRead: 'Alle als gelesen markieren',
      showOlder: 'Ältere anzeigen',
      unreadMark: 'Ungelesen',
      unread: { other: '{n} ungelesen' },
      arrived: { one: '{n} neue Benachrichtigung', other: '{n} neue Benachrichtigungen' },
    },
    es: {
      bell: 'Notificaciones',
      title: 'Notificaciones',
      empty: 'Aún no hay notificaciones',
      close: 'Cerrar',
      markAllRead: 'Marcar todas como leídas',
      showOlder: 'Mostrar anteriores',
      unreadMark: 'Sin leer',
      unread: { other: '{n} sin leer' },
      arrived: { one: '{n} notificación nueva', other: '{n} notificaciones nuevas' },
    },
    fr: {
      bell: 'Notifications',
      title: 'Notifications',
      empty: 'Aucune notification pour le moment',
      close: 'Fermer',
      markAllRead: 'Tout marquer comme lu',
      showOlder: 'Afficher les plus anciennes',
      unreadMark: 'Non lu',
      unread: { one: '{n} non lu', other: '{n} non lus' },
      arrived: { one: '{n} nouvelle notification', other: '{n} nouvelles notifications' },
    },
  };
  const STYLES = {
    bell: {
      display: 'inline-flex',
      'align-items': 'center',
      'justify-content': 'center',
      gap: '4px',
      'min-width': '44px',
      height: '36px',
      padding: '0 10px',
      border: '1px solid #c8ccd4',
      'border-radius': '18px',
      background: '#ffffff',
      color: '#1f2430',
      font: '600 14px/1 system-ui, sans-serif',
      cursor: 'pointer',
    },
    cornerBell: { position: 'fixed', top: '16px', right: '16px', 'z-index': '2147483000' },
    // The bell is a flex container, so the badge is a block without a `display` of its own that would beat `hidden`.
    badge: {
      'min-width': '18px',
      padding: '0 5px',
      'box-sizing': 'border-box',
      'border-radius': '9px',
      background: '#c5221f',
      color: '#ffffff',
      font: '700 12px/18px system-ui, sans-serif',
      'text-align': 'center',
    },
    panel: {
      position: 'fixed',
      'z-index': '2147483001',
      width: '360px',
      'max-width': 'calc(100vw - 16px)',
      'max-height': '70vh',
      overflow: 'auto',
      'box-sizing': 'border-box',
      padding: '12px 16px',
      border: '1px solid #c8ccd4',
      'border-radius': '8px',
      background: '#ffffff',
      color: '#1f2430',
      'box-shadow': '0 8px 24px rgba(0, 0, 0, 0.18)',
      font: '14px/1.4 system-ui, sans-serif',
      'text-align': 'left',
      'overflow-wrap': 'anywhere',
    },
    // Title and Close on the first row, "Mark all as read" below: long labels (German) wrap instead of spilling.
    header: {
      display: 'grid',
      'grid-template-columns': 'minmax(0, 1fr) auto',
      'align-items': 'center',
      gap: '8px',
      'margin-bottom': '8px',
    },
    title: { margin: '0', 'font-size': '16px' },
    button: {
      'max-width': '100%',
      padding: '4px 8px',
      border: '1px solid #c8ccd4',
      'border-radius': '4px',
      background: '#f4f5f7',
      color: 'inherit',
      font: 'inherit',
      'white-space': 'normal',
      'overflow-wrap': 'anywhere',
      cursor: 'pointer',
    },
    markAll: { 'grid-column': '1 / -1', 'justify-self': 'start', 'text-align': 'left' },
    showOlder: { width: '100%', 'margin-top': '8px' },
    empty: { margin: '16px 0', color: '#5c6370' },
    list: { margin: '0', padding: '0', 'list-style': 'none' },
    message: { padding: '8px', 'border-top': '1px solid #e6e8ec', cursor: 'pointer' },
    unread: { background: '#eef4ff', 'font-weight': '600' },
    read: { background: 'transparent', 'font-weight': '400' },
    unreadMark: {
      display: 'block',
      'margin-bottom': '2px',
      color: '#1a4fd6',
      'font-size': '12px',
      'font-weight': '700',
    },
    unreadDot: {
      display: 'inline-block',
      width: '8px',
      height: '8px',
      'margin-right': '6px',
      'border-radius': '50%',
      background: 'currentColor',
      'vertical-align': 'middle',
    },
    content: { margin: '4px 0 0', 'font-weight': '400' },
    time: {
      display: 'block',
      'margin-top': '4px',
      color: '#5c6370',
      'font-size': '12px',
      'font-weight': '400',
    },
    visuallyHidden: {
      position: 'absolute',
      width: '1px',
      height: '1px',
      margin: '-1px',
      padding: '0',
      border: '0',
      overflow: 'hidden',
      clip: 'rect(0 0 0 0)',
      'clip-path': 'inset(50%)',
      'white-space': 'nowrap',
    },
  };

  const page = /** @type {Window & { eS?: unknown }} */ (window);
  const stub = typeof page.eS === 'function' ? /** @type {EmulatorWidgetCommand} */ (page.eS) : null;
  if (stub !== null && stub.retenoEmulator === true) return;

  const apiUrl = baseUrlOfThisScript() || SETTINGS.apiUrl;
  let initialised = false;

  /** @type {EmulatorWidgetCommand} */
  const eS = (...args) => run(args);
  eS.retenoEmulator = true;

  const queued = stub !== null && isArrayLike(stub.q) ? Array.from(stub.q) : [];
  if (stub !== null) {
    // Calls made through a reference to the loader's stub reach the widget too.
    stub.c = run;
    stub.q = [];
  }
  page.eS = eS;
  for (const entry of queued) run(unwrapQueued(entry));

  /**
   * The loader's `f.c` pushes its own arguments, whose first item is the arguments of the page's `eS(...)` call.
   * @param {unknown} entry
   * @returns {ArrayLike<unknown>}
   */
  function unwrapQueued(entry) {
    if (!isArrayLike(entry)) return [];
    const first = entry[0];
    return isArrayLike(first) ? first : entry;
  }

  /** @param {ArrayLike<unknown>} args */
  function run(args) {
    try {
      // Tracking, recommendations and every command but init are not emulated: ignored on purpose.
      if (args[0] !== 'init') return;
      if (initialised) {
        console.warn(`${LOG_PREFIX} eS("init") was called again; only the first call of a page counts.`);
        return;
      }
      initialised = true;
      init(args[1], args[2]);
    } catch (error) {
      console.info(`${LOG_PREFIX} eS() failed: ${describe(error)}`);
    }
  }

  /**
   * @param {unknown} features
   * @param {unknown} settings
   */
  function init(features, settings) {
    if (!isRecord(features) || features.APP_INBOX !== true) return;
    if (!isRecord(settings) || typeof settings.getAuthTokenCallback !== 'function') {
      console.warn(
        `${LOG_PREFIX} App Inbox needs eS("init", {APP_INBOX: true}, {getAuthTokenCallback: () => fetchToken(), language: "en"}).`,
      );
      return;
    }
    const getAuthToken = /** @type {() => unknown} */ (settings.getAuthTokenCallback);
    const inbox = createInbox(getAuthToken, pickLanguage(settings.language));
    // express-reteno-inbox's page client fires this when the visitor signed out or changed in another tab (its
    // src/client/page-config.ts): the contact's inbox must go, even from a tab that is not reloaded at once.
    const visitorChanged = () => inbox.stop('the visitor changed in another tab');
    window.addEventListener('reteno-inbox:visitor-change', visitorChanged, { once: true });
    if (document.readyState === 'loading')
      document.addEventListener('DOMContentLoaded', inbox.start, { once: true });
    else inbox.start();
  }

  /**
   * The bell, the panel and the calls to the App Inbox API of one page.
   * @param {() => unknown} getAuthToken
   * @param {Language} language
   */
  function createInbox(getAuthToken, language) {
    const labels = LABELS[language];
    const pluralRules = new Intl.PluralRules(language);
    let token = '';
    /** @type {Promise<unknown>} */
    let queue = Promise.resolve();
    let stopped = false;
    let failuresInARow = 0;
    let pollTimer = 0;
    /** @type {EmulatorWidgetUi | null} */
    let ui = null;
    /** @type {number | null} The unread count last shown, `null` before the first; a rise is announced. */
    let lastCount = null;
    /** @type {Record<string, unknown>[]} What the panel lists, newest first: page 1, then older pages loaded. */
    let shown = [];
    /** Pages of the list loaded, and how many the last answer says there are: "Show older" shows while fewer. */
    let pagesLoaded = 0;
    let totalPages = 0;
    /** Changes when the list starts over from page 1, so that an older page asked for before is not appended. */
    let listGeneration = 0;
    let loadingOlder = false;
    /** Which messages the list shows, in which state: ids and statuses. */
    let drawnList = '';

    /** Ends the inbox on this page: the App Inbox API will not work again without a new token from the site. */
    class StopSignal {
      /** @param {string} reason */
      constructor(reason) {
        this.reason = reason;
      }
    }

    /** @param {string} reason */
    function stop(reason) {
      if (stopped) return;
      stopped = true;
      window.clearTimeout(pollTimer);
      if (ui) {
        ui.bell.remove();
        ui.panel.remove();
        ui.announcer.remove();
        document.removeEventListener('keydown', onDocumentKeydown);
        document.removeEventListener('click', onDocumentClick);
        ui = null;
      }
      console.info(`${LOG_PREFIX} App Inbox stopped: ${reason}.`);
    }

    /**
     * Every call goes through one queue: each answer carries the token the next request needs.
     * @template T
     * @param {string} method
     * @param {string} path
     * @param {unknown} body
     * @param {(text: string) => T} read
     * @returns {Promise<T | null>} what `read` made of the answer, `null` when the call failed
     */
    function call(method, path, body, read) {
      const result = queue.then(() => {
        if (stopped) return null;
        return request(method, path, body)
          .then(read)
          .then(
            (value) => {
              failuresInARow = 0;
              return value;
            },
            (error) => {
              if (error instanceof StopSignal) {
                stop(error.reason);
              } else {
                failuresInARow += 1;
                if (failuresInARow >= FAILURES_BEFORE_STOP) {
                  stop(`the App Inbox API failed ${failuresInARow} times in a row (${describe(error)})`);
                }
              }
              return null;
            },
          );
      });
      queue = result;
      return result;
    }

    /**
     * One API call; a 401 gets one more try with a fresh token from the site.
     * @param {string} method
     * @param {string} path
     * @param {unknown} body
     * @returns {Promise<string>} the answer's text
     */
    async function request(method, path, body) {
      let answer = await send(method, path, body);
      if (answer.status === 401) {
        token = '';
        answer = await send(method, path, body);
        if (answer.status === 401) throw new StopSignal('the App Inbox API refused a fresh token');
      }
      if (answer.status < 200 || answer.status > 299) throw new Error(`HTTP ${answer.status}`);
      return answer.text;
    }

    /**
     * @param {string} method
     * @param {string} path
     * @param {unknown} body
     * @returns {Promise<{ status: number, text: string }>}
     */
    async function send(method, path, body) {
      if (!token) token = await fetchToken();
      /** @type {Record<string, string>} */
      const headers = { 'ES-TOKEN': token };
      if (body !== undefined) headers['Content-Type'] = 'application/json';
      const controller = new AbortController();
      const timer = window.setTimeout(() => controller.abort(), REQUEST_TIMEOUT_MS);
      try {
        const response = await fetch(apiUrl + path, {
          method,
          headers,
          body: body === undefined ? undefined : JSON.stringify(body),
          credentials: 'omit',
          cache: 'no-store',
          signal: controller.signal,
        });
        const next = response.headers.get('ES-TOKEN');
        if (next) token = next;
        return { status: response.status, text: await response.text() };
      } finally {
        window.clearTimeout(timer);
      }
    }

    /** @returns {Promise<string>} */
    async function fetchToken() {
      let value;
      try {
        value = await withTimeout(new Promise((resolve) => resolve(getAuthToken())), TOKEN_TIMEOUT_MS);
      } catch (error) {
        throw new StopSignal(`getAuthTokenCallback failed (${describe(error)})`);
      }
      if (typeof value !== 'string' || value === '') {
        throw new StopSignal('getAuthTokenCallback gave no token (Reteno may not know this contact)');
      }
      return value;
    }

    /** @param {string} text */
    function readCount(text) {
      const data = JSON.parse(text);
      if (!isRecord(data) || typeof data.count !== 'number' || !(data.count >= 0)) {
        throw new Error('unexpected count answer');
      }
      return Math.floor(data.count);
    }

    /**
     * @param {string} text
     * @returns {MessagePage}
     */
    function readPage(text) {
      const data = JSON.parse(text);
      if (
        !isRecord(data) ||
        !Array.isArray(data.list) ||
        typeof data.totalPages !== 'number' ||
        !(data.totalPages >= 0)
      ) {
        throw new Error('unexpected message list answer');
      }
      return {
        list: /** @type {unknown[]} */ (data.list).filter(isRecord),
        totalPages: Math.floor(data.totalPages),
      };
    }

    function ignoreBody() {
      return true;
    }

    /** @param {number} number */
    function fetchPage(number) {
      return call('GET', `/appinbox/v1/messages?page=${number}&pageSize=${PAGE_SIZE}`, undefined, readPage);
    }

    async function refreshCount() {
      const count = await call('GET', '/appinbox/v1/messages/count', undefined, readCount);
      if (count === null || stopped) return;
      if (!ui) ui = buildUi();
      showCount(ui, count);
    }

    /**
     * @param {EmulatorWidgetUi} shownUi
     * @param {number} count
     */
    function showCount(shownUi, count) {
      shownUi.badge.textContent = String(count);
      shownUi.badge.hidden = count === 0;
      shownUi.bell.setAttribute('aria-label', `${labels.bell}, ${countText(labels.unread, count)}`);
      if (lastCount !== null && count > lastCount)
        announce(shownUi, countText(labels.arrived, count - lastCount));
      lastCount = count;
    }

    /**
     * @param {EmulatorWidgetUi} shownUi
     * @param {string} message
     */
    function announce(shownUi, message) {
      // A new text node, not a changed one: screen readers repeat an announcement that reads as the last one did.
      const region = shownUi.announcer;
      while (region.firstChild) region.removeChild(region.firstChild);
      region.appendChild(document.createTextNode(message));
    }

    /**
     * @param {PluralForms} forms
     * @param {number} count
     */
    function countText(forms, count) {
      return (forms[pluralRules.select(count)] || forms.other).replace('{n}', String(count));
    }

    /** Refreshes page 1; the older pages loaded stay below it. */
    async function loadNewest() {
      const page = await fetchPage(1);
      if (page === null || !ui) return;
      const ids = idsOf(page.list);
      const newestShown = shown[0];
      if (newestShown === undefined || ids.has(String(newestShown.id))) {
        shown = page.list.concat(shown.filter((message) => !ids.has(String(message.id))));
        pagesLoaded = Math.max(pagesLoaded, 1);
      } else {
        // More messages arrived than a page holds: the older pages no longer join on, so start over.
        shown = page.list;
        pagesLoaded = 1;
        listGeneration += 1;
      }
      totalPages = page.totalPages;
      renderList(ui);
    }

    /** Appends the next page of older messages, skipping any that moved onto it from the pages already shown. */
    async function loadOlder() {
      if (!ui || loadingOlder) return;
      loadingOlder = true;
      const number = pagesLoaded + 1;
      const generation = listGeneration;
      try {
        const page = await fetchPage(number);
        if (page === null || !ui || generation !== listGeneration) return;
        const ids = idsOf(shown);
        const older = page.list.filter((message) => !ids.has(String(message.id)));
        shown = shown.concat(older);
        pagesLoaded = number;
        totalPages = page.totalPages;
        const buttonHadFocus = document.activeElement === ui.showOlder;
        renderList(ui);
        // The button goes away with the last page: focus goes on to the first message it brought, not to the page.
        const first = older[0];
        if (buttonHadFocus && ui.showOlder.hidden && first !== undefined) {
          const item = messageItem(ui.list, String(first.id));
          if (item) item.focus();
        }
      } finally {
        loadingOlder = false;
      }
    }

    /**
     * Draws `shown`. The list is rebuilt only when a message came, went or was read, so that a screen reader's
     * place in it survives the refreshes that change nothing; keyboard focus stays on the message that had it.
     * @param {EmulatorWidgetUi} shownUi
     */
    function renderList(shownUi) {
      shownUi.empty.hidden = shown.length > 0;
      shownUi.showOlder.hidden = pagesLoaded >= totalPages;
      const drawing = shown.map((message) => `${String(message.id)}:${String(message.status)}`).join(' ');
      if (drawing === drawnList) return;
      drawnList = drawing;
      const list = shownUi.list;
      const focused = messageOf(document.activeElement);
      const focusedId = focused && list.contains(focused) ? focused.getAttribute('data-id') : null;
      while (list.firstChild) list.removeChild(list.firstChild);
      for (const message of shown) {
        const item = list.appendChild(renderMessage(message));
        if (focusedId !== null && item.getAttribute('data-id') === focusedId) item.focus();
      }
    }

    /** @param {HTMLElement} item */
    async function openMessage(item) {
      if (item.getAttribute('data-status') === 'OPENED') return;
      const id = item.getAttribute('data-id');
      const result = await call(
        'POST',
        '/appinbox/v1/messages/status',
        { status: 'OPENED', ids: [id] },
        ignoreBody,
      );
      if (result === null || !ui) return;
      // A refresh may have redrawn the list meanwhile: mark the message, then draw it again.
      for (const message of shown) if (String(message.id) === id) message.status = 'OPENED';
      renderList(ui);
      await refreshCount();
    }

    async function markAllRead() {
      const result = await call(
        'POST',
        '/appinbox/v1/messages/status',
        { status: 'OPENED', ids: null },
        ignoreBody,
      );
      if (result === null || !ui) return;
      for (const message of shown) message.status = 'OPENED';
      renderList(ui);
      await refreshCount();
    }

    function poll() {
      let work = refreshCount();
      if (ui && !ui.panel.hidden) work = work.then(loadNewest);
      return work.then(schedulePoll);
    }

    function schedulePoll() {
      if (!stopped) pollTimer = window.setTimeout(safely(poll), SETTINGS.pollIntervalMs);
    }

    /** @returns {EmulatorWidgetUi} */
    function buildUi() {
      const bell = element('button', {
        type: 'button',
        'data-reteno-inbox-bell': '',
        'aria-label': labels.bell,
        'aria-haspopup': 'dialog',
        'aria-expanded': 'false',
        'aria-controls': PANEL_ID,
      });
      bell.appendChild(bellIcon());
      // The bell's aria-label carries the count for screen readers; the badge shows it.
      const badge = element('span', { 'data-reteno-inbox-badge': '', 'aria-hidden': 'true' }, '0');
      badge.hidden = true;
      css(badge, STYLES.badge);
      bell.appendChild(badge);
      css(bell, STYLES.bell);
      const host = bellHost();
      if (host) {
        host.appendChild(bell);
      } else {
        css(bell, STYLES.cornerBell);
        document.body.appendChild(bell);
      }

      const panel = element('section', {
        id: PANEL_ID,
        role: 'dialog',
        lang: language,
        'aria-label': labels.title,
        'data-reteno-inbox-panel': '',
      });
      panel.hidden = true;
      css(panel, STYLES.panel);
      const header = element('div', {});
      css(header, STYLES.header);
      const title = element('h2', { tabindex: '-1', 'data-reteno-inbox-title': '' }, labels.title);
      css(title, STYLES.title);
      const close = element('button', { type: 'button', 'data-reteno-inbox-close': '' }, labels.close);
      css(close, STYLES.button);
      const markAll = element(
        'button',
        { type: 'button', 'data-reteno-inbox-mark-all': '' },
        labels.markAllRead,
      );
      css(markAll, STYLES.button);
      css(markAll, STYLES.markAll);
      header.appendChild(title);
      header.appendChild(close);
      header.appendChild(markAll);
      const empty = element('p', { 'data-reteno-inbox-empty': '' }, labels.empty);
      empty.hidden = true;
      css(empty, STYLES.empty);
      const list = element('ul', { 'data-reteno-inbox-list': '' });
      css(list, STYLES.list);
      const showOlder = element(
        'button',
        { type: 'button', 'data-reteno-inbox-show-older': '' },
        labels.showOlder,
      );
      showOlder.hidden = true;
      css(showOlder, STYLES.button);
      css(showOlder, STYLES.showOlder);
      panel.appendChild(header);
      panel.appendChild(empty);
      panel.appendChild(list);
      panel.appendChild(showOlder);
      document.body.appendChild(panel);

      // Outside the panel, so that it speaks while the panel is closed.
      const announcer = element('div', {
        role: 'status',
        'aria-live': 'polite',
        'aria-atomic': 'true',
        lang: language,
        'data-reteno-inbox-announcer': '',
      });
      css(announcer, STYLES.visuallyHidden);
      document.body.appendChild(announcer);

      bell.addEventListener('click', safely(onBellClick));
      close.addEventListener(
        'click',
        safely(() => closePanel({ focusBell: true })),
      );
      markAll.addEventListener('click', safely(markAllRead));
      showOlder.addEventListener('click', safely(loadOlder));
      list.addEventListener('click', safely(onListClick));
      list.addEventListener('keydown', safely(onListKeydown));
      document.addEventListener('keydown', onDocumentKeydown);
      document.addEventListener('click', onDocumentClick);
      return { bell, badge, panel, title, list, empty, showOlder, announcer };
    }

    /** @param {Record<string, unknown>} message */
    function renderMessage(message) {
      const opened = message.status === 'OPENED';
      const item = element('li', {
        tabindex: '0',
        'data-reteno-inbox-message': '',
        'data-id': String(message.id),
        'data-status': opened ? 'OPENED' : 'UNOPENED',
      });
      css(item, STYLES.message);
      css(item, opened ? STYLES.read : STYLES.unread);
      if (!opened) item.appendChild(unreadMark());
      const href = httpUrl(message.link);
      const title = href
        ? element('a', { href, target: '_blank', rel: 'noopener noreferrer' }, text(message.title))
        : element('span', {}, text(message.title));
      title.setAttribute('data-reteno-inbox-message-title', '');
      item.appendChild(title);
      const content = element('p', { 'data-reteno-inbox-message-content': '' }, text(message.content));
      css(content, STYLES.content);
      item.appendChild(content);
      if (typeof message.createdDate === 'number') {
        const created = new Date(message.createdDate);
        if (!Number.isNaN(created.getTime())) {
          const time = element('time', { datetime: created.toISOString() }, created.toLocaleString(language));
          css(time, STYLES.time);
          item.appendChild(time);
        }
      }
      return item;
    }

    /** A dot and a word: unread shows in greyscale and reaches screen readers, not by colour alone. */
    function unreadMark() {
      const mark = element('span', { 'data-reteno-inbox-unread-mark': '' });
      css(mark, STYLES.unreadMark);
      const dot = element('span', { 'aria-hidden': 'true' });
      css(dot, STYLES.unreadDot);
      mark.appendChild(dot);
      mark.appendChild(document.createTextNode(labels.unreadMark));
      return mark;
    }

    function onBellClick() {
      if (!ui) return;
      const opening = ui.panel.hidden ? openPanel(ui) : closePanel({ focusBell: true });
      return Promise.all([opening, refreshCount()]);
    }

    /** @param {EmulatorWidgetUi} shownUi */
    function openPanel(shownUi) {
      const rect = shownUi.bell.getBoundingClientRect();
      const right = Math.max(8, Math.min(window.innerWidth - rect.right, window.innerWidth - 368));
      css(shownUi.panel, { top: `${Math.round(rect.bottom + 8)}px`, right: `${Math.round(right)}px` });
      shownUi.panel.hidden = false;
      shownUi.bell.setAttribute('aria-expanded', 'true');
      shownUi.title.focus();
      return loadNewest();
    }

    /**
     * Closes the panel. Focus goes back to the bell, unless a click outside put it somewhere else on purpose.
     * @param {{ focusBell: boolean, preventScroll?: boolean }} how
     */
    function closePanel(how) {
      if (!ui || ui.panel.hidden) return;
      ui.panel.hidden = true;
      ui.bell.setAttribute('aria-expanded', 'false');
      if (how.focusBell) ui.bell.focus({ preventScroll: how.preventScroll === true });
    }

    /** @param {Event} event */
    async function onListClick(event) {
      const item = messageOf(event.target);
      if (item) await openMessage(item);
    }

    /** @param {KeyboardEvent} event */
    async function onListKeydown(event) {
      if (event.key !== 'Enter' && event.key !== ' ') return;
      const item = messageOf(event.target);
      if (item && item === event.target) {
        event.preventDefault();
        await openMessage(item);
      }
    }

    /** @param {KeyboardEvent} event */
    function onDocumentKeydown(event) {
      if (event.key === 'Escape') closePanel({ focusBell: true });
    }

    /** @param {MouseEvent} event */
    function onDocumentClick(event) {
      if (!ui || ui.panel.hidden) return;
      const path = event.composedPath();
      if (path.indexOf(ui.panel) !== -1 || path.indexOf(ui.bell) !== -1) return;
      // A click on a link or a field outside keeps the focus it gave; a click on nothing focusable returns it to
      // the bell, without scrolling the page back up to it.
      const focus = document.activeElement;
      const focusLost = focus === null || focus === document.body || ui.panel.contains(focus);
      closePanel({ focusBell: focusLost, preventScroll: true });
    }

    /**
     * Event handlers and timers must never throw or reject where the page would see it.
     * @template {unknown[]} A
     * @param {(...args: A) => unknown} handler
     * @returns {(...args: A) => void}
     */
    function safely(handler) {
      return (...args) => {
        try {
          const result = handler(...args);
          if (result instanceof Promise) result.then(undefined, fail);
        } catch (error) {
          fail(error);
        }
      };
    }

    /** @param {unknown} error */
    function fail(error) {
      stop(`unexpected error (${describe(error)})`);
    }

    return { start: safely(() => refreshCount().then(schedulePoll)), stop };
  }

  /** @returns {string | null} where this script came from, without `/scripts/…` */
  function baseUrlOfThisScript() {
    const script = document.currentScript;
    if (!(script instanceof HTMLScriptElement) || !script.src) return null;
    try {
      const url = new URL(script.src);
      const at = url.pathname.lastIndexOf('/scripts/');
      return at === -1 ? null : url.origin + url.pathname.slice(0, at);
    } catch (_error) {
      return null;
    }
  }

  /**
   * @param {unknown} language
   * @returns {Language}
   */
  function pickLanguage(language) {
    const primary = typeof language === 'string' ? language.toLowerCase().split(/[-_]/)[0] : '';
    return isLanguage(primary) ? primary : 'en';
  }

  /**
   * @param {unknown} value
   * @returns {value is Language}
   */
  function isLanguage(value) {
    return typeof value === 'string' && Object.keys(LABELS).includes(value);
  }

  function bellHost() {
    if (!SETTINGS.bellSelector) return null;
    try {
      return document.querySelector(SETTINGS.bellSelector);
    } catch (_error) {
      console.info(`${LOG_PREFIX} bellSelector is not a valid CSS selector; the bell goes in the corner.`);
      return null;
    }
  }

  function bellIcon() {
    const svg = document.createElementNS(SVG_NS, 'svg');
    svg.setAttribute('width', '16');
    svg.setAttribute('height', '16');
    svg.setAttribute('viewBox', '0 0 24 24');
    svg.setAttribute('aria-hidden', 'true');
    svg.setAttribute('focusable', 'false');
    const path = document.createElementNS(SVG_NS, 'path');
    path.setAttribute('d', BELL_PATH);
    path.setAttribute('fill', 'currentColor');
    svg.appendChild(path);
    return svg;
  }

  /**
   * @template {keyof HTMLElementTagNameMap} K
   * @param {K} tag
   * @param {Record<string, string>} attributes
   * @param {string} [textContent]
   * @returns {HTMLElementTagNameMap[K]}
   */
  function element(tag, attributes, textContent) {
    const node = document.createElement(tag);
    for (const name of Object.keys(attributes)) node.setAttribute(name, String(attributes[name]));
    if (textContent !== undefined) node.textContent = textContent;
    return node;
  }

  /**
   * @param {HTMLElement} node
   * @param {Record<string, string>} styles
   */
  function css(node, styles) {
    for (const name of Object.keys(styles)) node.style.setProperty(name, String(styles[name]));
  }

  /**
   * The listed message with this id, if any.
   * @param {HTMLUListElement} list
   * @param {string} id
   * @returns {HTMLElement | null}
   */
  function messageItem(list, id) {
    for (const item of Array.from(list.children)) {
      if (item instanceof HTMLElement && item.getAttribute('data-id') === id) return item;
    }
    return null;
  }

  /**
   * The ids of these messages, as the list's `data-id` attributes write them.
   * @param {Record<string, unknown>[]} messages
   */
  function idsOf(messages) {
    return new Set(messages.map((message) => String(message.id)));
  }

  /**
   * The message element an event happened in, if any.
   * @param {EventTarget | null} target
   * @returns {HTMLElement | null}
   */
  function messageOf(target) {
    const item = target instanceof Element ? target.closest('[data-reteno-inbox-message]') : null;
    return item instanceof HTMLElement ? item : null;
  }

  /**
   * Only http(s) links are shown.
   * @param {unknown} value
   */
  function httpUrl(value) {
    if (typeof value !== 'string') return null;
    try {
      const url = new URL(value);
      return url.protocol === 'http:' || url.protocol === 'https:' ? url.href : null;
    } catch (_error) {
      return null;
    }
  }

  /** @param {unknown} value */
  function text(value) {
    return typeof value === 'string' ? value : '';
  }

  /**
   * @param {unknown} value
   * @returns {value is Record<string, unknown>}
   */
  function isRecord(value) {
    return typeof value === 'object' && value !== null;
  }

  /**
   * @param {unknown} value
   * @returns {value is ArrayLike<unknown>}
   */
  function isArrayLike(value) {
    return isRecord(value) && typeof value.length === 'number';
  }

  /** @param {unknown} error */
  function describe(error) {
    return isRecord(error) && error.message ? String(error.message) : String(error);
  }

  /**
   * @template T
   * @param {Promise<T>} promise
   * @param {number} ms
   * @returns {Promise<T>}
   */
  function withTimeout(promise, ms) {
    return new Promise((resolve, reject) => {
      const timer = window.setTimeout(() => reject(new Error(`no answer within ${ms} ms`)), ms);
      promise.then(
        (value) => {
          window.clearTimeout(timer);
          resolve(value);
        },
        (error) => {
          window.clearTimeout(timer);
          reject(error);
        },
      );
    });
  }
})();
