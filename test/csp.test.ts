import type { IncomingMessage, ServerResponse } from 'node:http';
import helmet from 'helmet';
import express, { type Response } from 'express';
import request from 'supertest';
import { errorCodes, retenoHosts, retenoInboxCsp } from '../src/index.js';

describe('retenoInboxCsp', () => {
  it("adds Reteno's hosts to script-src, connect-src and img-src, keeping the site's sources", () => {
    const nonce = (_req: unknown, res: Response) => `'nonce-${res.locals.cspNonce}'`;
    const merged = retenoInboxCsp({ scriptSrc: ["'self'", nonce], imgSrc: ["'self'", 'data:'] });
    expect(merged.scriptSrc).toEqual(["'self'", nonce, ...retenoHosts.script]);
    expect(merged.imgSrc).toEqual(["'self'", 'data:', ...retenoHosts.image]);
    // absent directives start from default-src, here helmet's 'self'
    expect(merged.connectSrc).toEqual(["'self'", ...retenoHosts.connect]);
    expect(Object.values(merged).flat()).not.toContain("'unsafe-inline'");
  });

  it("uses the emulator's origin in development, and keeps the site's key style", () => {
    const merged = retenoInboxCsp(
      { 'default-src': ["'none'"], 'script-src': ["'self'"] },
      { emulatorUrl: 'http://127.0.0.1:4010/' },
    );
    expect(merged['script-src']).toEqual(["'self'", 'http://127.0.0.1:4010']);
    expect(merged.connectSrc).toEqual(["'none'", 'http://127.0.0.1:4010']);
    expect(merged.imgSrc).toEqual(["'none'", 'http://127.0.0.1:4010']);
  });

  it('does not duplicate sources a site already allows', () => {
    const merged = retenoInboxCsp({ scriptSrc: ["'self'", 'https://statics.esputnik.com'] });
    expect(merged.scriptSrc).toEqual(["'self'", 'https://statics.esputnik.com']);
  });

  it('rejects an emulator URL that is not http(s)', () => {
    expect(() => retenoInboxCsp({}, { emulatorUrl: 'javascript:alert(1)' })).toThrow(
      expect.objectContaining({ code: errorCodes.invalidOption, option: 'emulatorUrl' }),
    );
  });

  it("gives a nonce source written inline Express's (req, res), and takes one typed as helmet types it", async () => {
    const app = express();
    app.use((_req, res, next) => {
      res.locals.cspNonce = 'bm9uY2UtMQ==';
      next();
    });
    const helmetTyped = (req: IncomingMessage, _res: ServerResponse) => `'nonce-${req.method}'`;
    app.use(
      helmet({
        contentSecurityPolicy: {
          // Under `strict`, this `res` is Express's Response without an annotation: no TS7006, `res.locals` known.
          directives: retenoInboxCsp({
            scriptSrc: ["'self'", (_req, res) => `'nonce-${res.locals.cspNonce}'`],
            styleSrc: [helmetTyped],
          }),
        },
      }),
    );
    app.get('/', (_req, res) => res.send('ok'));
    const response = await request(app).get('/').expect(200);
    const policy = String(response.headers['content-security-policy']);
    expect(policy).toContain(`script-src 'self' 'nonce-bm9uY2UtMQ==' ${retenoHosts.script.join(' ')};`);
    expect(policy).toContain("style-src 'nonce-GET';");
  });

  it('produces directives helmet accepts and sends', async () => {
    const app = express();
    app.use(
      helmet({
        contentSecurityPolicy: { directives: retenoInboxCsp({}, { emulatorUrl: 'http://127.0.0.1:4010' }) },
      }),
    );
    app.get('/', (_req, res) => res.send('ok'));
    const response = await request(app).get('/').expect(200);
    const policy = String(response.headers['content-security-policy']);
    expect(policy).toContain("script-src 'self' http://127.0.0.1:4010");
    expect(policy).toContain("connect-src 'self' http://127.0.0.1:4010");
  });
});
