import { errorCodes, type RetenoInboxOptions, RetenoInboxError, retenoInbox } from '../src/index.js';
import { apiKey, scriptId } from './helpers/site.js';

const valid: RetenoInboxOptions = { apiKey, scriptId, resolveContact: () => null };

function creationError(options: unknown): RetenoInboxError {
  try {
    retenoInbox(options as RetenoInboxOptions);
  } catch (error) {
    expect(error).toBeInstanceOf(RetenoInboxError);
    return error as RetenoInboxError;
  }
  throw new Error('retenoInbox() accepted the options');
}

describe('options', () => {
  it('returns a named middleware for valid options, in both call styles', () => {
    expect(retenoInbox(valid).name).toBe('retenoInboxMiddleware');
    expect(retenoInbox(apiKey, () => null, { scriptId }).name).toBe('retenoInboxMiddleware');
  });

  it.each([
    ['apiKey', { scriptId, resolveContact: () => null }],
    ['apiKey', { ...valid, apiKey: '' }],
    ['resolveContact', { apiKey, scriptId }],
    ['scriptId', { apiKey, resolveContact: () => null }],
  ])('throws ERR_RETENO_INBOX_MISSING_OPTION naming %s', (option, options) => {
    const error = creationError(options);
    expect(error.code).toBe(errorCodes.missingOption);
    expect(error.option).toBe(option);
    expect(error.message).toContain(`\`${option}\``);
  });

  it.each([
    ['options', null],
    ['options', 42],
    ['apiKey', { ...valid, apiKey: 42 }],
    ['apiKey', { ...valid, apiKey: 'has space' }],
    ['resolveContact', { ...valid, resolveContact: 'session.user' }],
    ['scriptId', { ...valid, scriptId: 'not-a-uuid' }],
    ['baseUrl', { ...valid, baseUrl: 'reteno.com' }],
    ['baseUrl', { ...valid, baseUrl: 'ftp://reteno.com' }],
    ['baseUrl', { ...valid, baseUrl: 'https://user:pass@reteno.com' }],
    ['baseUrl', { ...valid, baseUrl: 'https://reteno.com/?x=1' }],
    ['scriptBaseUrl', { ...valid, scriptBaseUrl: 'javascript:alert(1)' }],
    ['tokenPath', { ...valid, tokenPath: 'no-leading-slash' }],
    ['tokenPath', { ...valid, tokenPath: '/token?x=1' }],
    ['tokenPath', { ...valid, tokenPath: '/</script>' }],
    ['tokenPath', { ...valid, tokenPath: '//evil.example/token' }],
    ['tokenPath', { ...valid, tokenPath: '/reteno/../token' }],
    ['tokenPath', { ...valid, tokenPath: '/' }],
    ['csrfToken', { ...valid, csrfToken: 'abc' }],
    ['csrfHeader', { ...valid, csrfHeader: 'x csrf' }],
    ['csrfHeader', { ...valid, csrfHeader: '' }],
    ['csrfHeader', { ...valid, csrfHeader: 'X-Reteno-Inbox' }],
    ['languages', { ...valid, languages: [] }],
    ['languages', { ...valid, languages: ['en', 'xx'] }],
    ['languages', { ...valid, languages: ['EN'] }],
    ['languages', { ...valid, languages: 'en' }],
    ['defaultLanguage', { ...valid, languages: ['uk'], defaultLanguage: 'en' }],
    ['defaultLanguage', { ...valid, defaultLanguage: 'en-US' }],
    ['language', { ...valid, language: 'uk' }],
    ['flags', { ...valid, flags: true }],
    ['flags.TRACKING', { ...valid, flags: { TRACKING: 'yes' } }],
    ['embedAnonymous', { ...valid, embedAnonymous: 'no' }],
    ['timeout', { ...valid, timeout: 0 }],
    ['timeout', { ...valid, timeout: 1.5 }],
    ['timeout', { ...valid, timeout: '5000' }],
    ['timeout', { ...valid, timeout: 10 * 60_000 }],
    ['retries', { ...valid, retries: -1 }],
    ['retries', { ...valid, retries: 11 }],
    ['nonce', { ...valid, nonce: '"><script>' }],
    ['nonce', { ...valid, nonce: 42 }],
    ['allowedOrigins', { ...valid, allowedOrigins: 'https://a.example' }],
    ['allowedOrigins', { ...valid, allowedOrigins: ['https://a.example/path'] }],
    ['allowedOrigins', { ...valid, allowedOrigins: ['*'] }],
    ['logger', { ...valid, logger: { log() {} } }],
    ['tokenBudget', { ...valid, tokenBudget: true }],
    ['tokenBudget', { ...valid, tokenBudget: { limit: 0 } }],
    ['tokenBudget', { ...valid, tokenBudget: { limit: 10, windowMs: 1500 } }],
    ['tokenBudget', { ...valid, tokenBudget: { limit: 10, window: 60 } }],
    ['maxInFlight', { ...valid, maxInFlight: 0 }],
    ['maxInFlight', { ...valid, maxInFlight: 2.5 }],
    ['maxQueued', { ...valid, maxQueued: -1 }],
    ['maxPerSecond', { ...valid, maxPerSecond: 0 }],
    ['maxPerSecond', { ...valid, maxPerSecond: 10.5 }],
    ['redisPrefix', { ...valid, redisPrefix: '' }],
    ['redisPrefix', { ...valid, redisPrefix: 'has space' }],
    ['redisPrefix', { ...valid, redisPrefix: 42 }],
    ['redis', { ...valid, redis: 'redis://127.0.0.1:6379' }],
    ['redis', { ...valid, redis: {} }],
    ['allowHttp', { ...valid, allowHttp: 'yes' }],
    ['createContact', { ...valid, createContact: 'yes' }],
    ['contactUrl', { ...valid, contactUrl: 'api.reteno.com/api/v1/contact' }],
    ['contactUrl', { ...valid, contactUrl: 'http://api.reteno.com/api/v1/contact' }],
    // The API key would cross the network in clear text.
    ['baseUrl', { ...valid, baseUrl: 'http://reteno.com' }],
    ['baseUrl', { ...valid, baseUrl: 'http://10.0.0.5:4010' }],
    ['scriptBaseUrl', { ...valid, scriptBaseUrl: 'http://statics.esputnik.com/scripts/' }],
  ])('throws ERR_RETENO_INBOX_INVALID_OPTION naming %s', (option, options) => {
    const error = creationError(options);
    expect(error.code).toBe(errorCodes.invalidOption);
    expect(error.option).toBe(option);
    expect(error.message).toContain(`\`${option}\``);
  });

  it('reports a missing apiKey when the shorthand gets an unset environment variable', () => {
    const error = creationError(undefined);
    expect(error.option).toBe('options');
    try {
      retenoInbox(process.env.RETENO_TEST_UNSET_KEY as string, () => null, { scriptId });
      throw new Error('retenoInbox() accepted a missing apiKey');
    } catch (caught) {
      expect(caught).toMatchObject({ code: errorCodes.missingOption, option: 'apiKey' });
    }
  });

  it('rejects unknown options and suggests the one that was meant', () => {
    const error = creationError({ ...valid, tokenpath: '/x' });
    expect(error.code).toBe(errorCodes.unknownOption);
    expect(error.option).toBe('tokenpath');
    expect(error.message).toContain('Did you mean `tokenPath`?');
    expect(creationError({ ...valid, timout: 1000 }).message).toContain('Did you mean `timeout`?');
    expect(creationError({ ...valid, flags: { APP_INBOX: false } }).option).toBe('flags.APP_INBOX');
    expect(creationError({ ...valid, somethingElse: 1 }).message).toContain('Known options:');
  });

  it('never echoes the API key in an error', () => {
    const secret = 'super secret key';
    const error = creationError({ ...valid, apiKey: secret });
    expect(error.message).not.toContain(secret);
    const another = creationError({ ...valid, apiKey: 'sk_live_abcdef', scriptId: 'nope' });
    expect(another.message).not.toContain('sk_live_abcdef');
    expect(JSON.stringify(another)).not.toContain('sk_live_abcdef');
  });

  it('accepts http: for loopback hosts, and for others only with allowHttp: true', () => {
    for (const baseUrl of [
      'http://localhost:4010',
      'http://127.0.0.1:4010',
      'http://127.8.9.10',
      'http://[::1]:4010',
    ]) {
      expect(() => retenoInbox({ ...valid, baseUrl, scriptBaseUrl: `${baseUrl}/scripts/` })).not.toThrow();
    }
    const staging = {
      baseUrl: 'http://reteno-emulator.staging:4010',
      scriptBaseUrl: 'http://reteno-emulator.staging:4010/scripts/',
    };
    expect(creationError({ ...valid, ...staging }).message).toContain('allowHttp: true');
    expect(() => retenoInbox({ ...valid, ...staging, allowHttp: true })).not.toThrow();
  });

  it('accepts every documented option', () => {
    expect(() =>
      retenoInbox({
        ...valid,
        baseUrl: 'http://127.0.0.1:4010/',
        scriptBaseUrl: 'http://127.0.0.1:4010/scripts',
        tokenPath: '/api/inbox-token',
        languages: ['en', 'uk'],
        defaultLanguage: 'uk',
        language: () => 'en',
        flags: { RECOMS: false, TRACKING: true },
        embedAnonymous: true,
        timeout: 1000,
        retries: 0,
        nonce: 'rAnd0m+/Nonce==',
        allowedOrigins: ['https://shop.example.com'],
        csrfToken: () => 'csrf-token',
        csrfHeader: 'x-xsrf-token',
        tokenBudget: { limit: 20, windowMs: 30_000 },
        maxInFlight: 8,
        maxQueued: 0,
        maxPerSecond: 100,
        redis: { multi() {} },
        redisPrefix: 'shop-eu:reteno-inbox',
        allowHttp: false,
        createContact: (_req, contact) => ({ firstName: contact.email ?? 'friend' }),
        contactUrl: 'http://127.0.0.1:4010/api/v1/contact',
        logger: console,
      }),
    ).not.toThrow();
  });
});
