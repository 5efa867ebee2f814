import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { type ApiRequest, readBody } from './api-request.js';
import { checkAuthorization } from './authorization.js';
import { ContactApi } from './contact-api.js';
import { type ControlApi, controlPathPrefix } from './control-api.js';
import { corsHeaders, isPreflight, preflightReply } from './cors.js';
import { sendOversize, sendReply, trickleReply } from './delivery.js';
import { type ActiveFault, type ApiRoute, defaultTrickleIntervalMs, type FaultQueue } from './faults.js';
import { isLoopbackAddress, isServedHost } from './hosts.js';
import { answerInboxRequest, inboxPathPrefix } from './inbox-api.js';
import type { EmulatorConfig } from './options.js';
import { jsonReply, type Reply, textReply } from './replies.js';
import type { RequestLog } from './request-log.js';
import type { InboxStore } from './store.js';
import { Timers } from './timers.js';
import { answerTokenRequest, tokenPath } from './token-api.js';
import type { LoggedRequest } from './types.js';
import { renderWidgetScript } from './widget.js';

/** Request bodies above this size answer 413. */
export const maxBodyBytes = 1024 * 1024;

const scriptPathPattern = /^\/scripts\/([^/]+)\.js$/;

/**
 * The emulator's HTTP side: the `Host` check, routing, CORS, faults, the request log, the control API (when
 * given), and a close that leaves nothing open.
 */
export class EmulatorServer {
  readonly #config: EmulatorConfig;
  readonly #store: InboxStore;
  readonly #faults: FaultQueue;
  readonly #log: RequestLog;
  readonly #contactApi: ContactApi;
  readonly #controlApi: ControlApi | null;
  readonly #widgetSource: string;
  readonly #server: Server;
  readonly #sockets = new Set<Socket>();
  readonly #timers = new Timers();
  /** The widget with its settings written in, once the URL is known. */
  #script = '';
  #closing: Promise<void> | undefined;

  constructor(
    config: EmulatorConfig,
    store: InboxStore,
    faults: FaultQueue,
    log: RequestLog,
    widgetSource: string,
    controlApi: ControlApi | null,
  ) {
    this.#config = config;
    this.#store = store;
    this.#faults = faults;
    this.#log = log;
    this.#contactApi = new ContactApi(config, store);
    this.#controlApi = controlApi;
    this.#widgetSource = widgetSource;
    this.#server = createServer((request, response) => {
      this.#handle(request, response).catch(() => {
        if (!response.headersSent) sendReply(response, textReply(500));
        else response.destroy();
      });
    });
    this.#server.on('connection', (socket) => {
      this.#sockets.add(socket);
      socket.once('close', () => this.#sockets.delete(socket));
    });
  }

  /** Starts listening; resolves with the base URL. Warns on `console` when the address is not loopback. */
  listen(): Promise<string> {
    return new Promise((resolve, reject) => {
      this.#server.once('error', reject);
      this.#server.listen(this.#config.port, this.#config.host, () => {
        this.#server.off('error', reject);
        const address = this.#server.address() as AddressInfo;
        const url = baseUrl(address);
        this.#script = renderWidgetScript(this.#widgetSource, {
          apiUrl: url,
          bellSelector: this.#config.bellSelector,
          pollIntervalMs: this.#config.pollIntervalMs,
        });
        if (!isLoopbackAddress(address.address)) {
          console.warn(
            `Reteno emulator: listening on ${url}, an address other machines may reach. The emulator is a ` +
              'development tool without real security; listen on 127.0.0.1 unless you need this.',
          );
        }
        resolve(url);
      });
    });
  }

  close(): Promise<void> {
    this.#closing ??= new Promise((resolve) => {
      this.#timers.clear();
      this.#server.close(() => resolve());
      for (const socket of this.#sockets) socket.destroy();
    });
    return this.#closing;
  }

  async #handle(request: IncomingMessage, response: ServerResponse): Promise<void> {
    const url = new URL(request.url ?? '/', 'http://emulator.invalid');
    const method = request.method ?? 'GET';
    const origin = request.headers.origin;
    response.setHeader('cache-control', 'no-store');
    if (this.#controlApi && url.pathname.startsWith(controlPathPrefix)) {
      await this.#answerControl(this.#controlApi, request, url, response);
      return;
    }

    const body = await readBody(request, maxBodyBytes);
    const authorization = checkAuthorization(request.headers.authorization, this.#config.apiKey);
    const { authorization: _neverLogged, ...loggedHeaders } = request.headers;
    const entry = this.#log.add(
      {
        method,
        path: url.pathname,
        query: Object.fromEntries(url.searchParams),
        headers: loggedHeaders,
        authorization,
        status: null,
        at: Date.now(),
      },
      body === null ? null : body.text,
    );
    const respond = (reply: Reply) => {
      entry.status = reply.status;
      sendReply(response, reply);
    };

    if (!isServedHost(request.headers.host, this.#config.host)) {
      respond(hostNotServedReply());
      return;
    }
    for (const [name, value] of Object.entries(corsHeaders(origin, this.#config.corsOrigins))) {
      response.setHeader(name, value);
    }
    if (body === null) {
      respond(textReply(413, `Payload Too Large: at most ${maxBodyBytes} bytes`, { connection: 'close' }));
      return;
    }
    if (isPreflight(method, request.headers)) {
      respond(preflightReply(origin, this.#config.corsOrigins));
      return;
    }
    const scriptId = scriptPathPattern.exec(url.pathname)?.[1];
    if (scriptId !== undefined) {
      respond(this.#scriptReply(method, scriptId));
      return;
    }
    const route = this.#apiRouteOf(url.pathname);
    if (!route) {
      respond(textReply(404));
      return;
    }
    const apiRequest: ApiRequest = {
      method,
      path: url.pathname,
      query: url.searchParams,
      headers: request.headers,
      authorization,
      body,
    };
    const answer = (): Reply => {
      switch (route) {
        case 'token':
          return answerTokenRequest(apiRequest, this.#store);
        case 'inbox':
          return answerInboxRequest(apiRequest, this.#store);
        case 'contact':
          return this.#contactApi.answer(apiRequest);
      }
    };
    const fault = this.#faults.take(route);
    if (!fault) {
      respond(answer());
      return;
    }
    await this.#play(fault, response, entry, answer, respond);
  }

  /**
   * A control API request: the `Host` check as for every route, then the control API's own. Never logged, never
   * faulted, and without CORS headers.
   */
  async #answerControl(
    controlApi: ControlApi,
    request: IncomingMessage,
    url: URL,
    response: ServerResponse,
  ): Promise<void> {
    if (!isServedHost(request.headers.host, this.#config.host)) {
      sendReply(response, hostNotServedReply());
      return;
    }
    const body = await readBody(request, maxBodyBytes);
    if (body === null) {
      sendReply(
        response,
        textReply(413, `Payload Too Large: at most ${maxBodyBytes} bytes`, { connection: 'close' }),
      );
      return;
    }
    sendReply(
      response,
      controlApi.answer({
        method: request.method ?? 'GET',
        path: url.pathname,
        query: url.searchParams,
        headers: request.headers,
        authorization: 'absent',
        body,
      }),
    );
  }

  /**
   * Plays a fault. The normal answer is built only when the fault delivers it (`timeout` with a delay, `trickle`),
   * so that a token is used up only by a request that gets its answer.
   */
  async #play(
    fault: ActiveFault,
    response: ServerResponse,
    entry: LoggedRequest,
    answer: () => Reply,
    respond: (reply: Reply) => void,
  ): Promise<void> {
    if (fault.kind === 'timeout') {
      // Without a delay the request hangs until the client gives up or the emulator closes.
      if (fault.delayMs === null) return;
      await this.#timers.sleep(fault.delayMs);
      if (!response.destroyed) respond(answer());
      return;
    }
    if (fault.kind === 'trickle') {
      const reply = answer();
      entry.status = reply.status;
      trickleReply(response, reply, fault.delayMs ?? defaultTrickleIntervalMs, this.#timers);
      return;
    }
    if (fault.delayMs !== null) await this.#timers.sleep(fault.delayMs);
    if (response.destroyed) return;
    switch (fault.kind) {
      case 'reset':
        response.socket?.resetAndDestroy();
        return;
      case 'status': {
        const headers: Record<string, string> =
          fault.retryAfter === null ? {} : { 'retry-after': fault.retryAfter };
        respond(textReply(fault.status, undefined, headers));
        return;
      }
      case 'garbage':
        respond({
          status: 200,
          headers: { 'content-type': 'text/html; charset=utf-8' },
          body: '<!doctype html><html><body><h1>502 Bad Gateway</h1><p>nginx</p></body></html>\n',
        });
        return;
      case 'malformed-json':
        respond({
          status: 200,
          headers: { 'content-type': 'application/json; charset=utf-8' },
          body: '{"token":',
        });
        return;
      case 'oversize':
        entry.status = 200;
        sendOversize(response);
        return;
    }
  }

  #apiRouteOf(path: string): ApiRoute | null {
    if (path === tokenPath) return 'token';
    if (path.startsWith(inboxPathPrefix)) return 'inbox';
    if (path === this.#config.contactPath) return 'contact';
    return null;
  }

  #scriptReply(method: string, requestedId: string): Reply {
    if (method !== 'GET' && method !== 'HEAD') return textReply(405, undefined, { allow: 'GET, HEAD' });
    if (decodePathSegment(requestedId) !== this.#config.scriptId)
      return textReply(404, 'Not Found: unknown script id');
    return {
      status: 200,
      headers: {
        'content-type': 'application/javascript; charset=utf-8',
        'x-content-type-options': 'nosniff',
        'cross-origin-resource-policy': 'cross-origin',
      },
      // Node leaves the body out of an answer to HEAD.
      body: this.#script,
    };
  }
}

function hostNotServedReply(): Reply {
  return jsonReply(421, {
    error: 'host_not_served',
    message:
      'The Reteno emulator serves only loopback host names (localhost, 127.0.0.1, [::1]) and the host it ' +
      'listens on: call it by one of them.',
  });
}

function decodePathSegment(segment: string): string | null {
  try {
    return decodeURIComponent(segment);
  } catch {
    return null;
  }
}

function baseUrl(address: AddressInfo): string {
  const host = address.family === 'IPv6' ? `[${address.address}]` : address.address;
  return `http://${host}:${address.port}`;
}
