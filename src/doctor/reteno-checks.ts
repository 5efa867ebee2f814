import { tokenEndpointPath, uuidPattern } from '../options.js';
import { basicCredentials } from '../credentials.js';
import type { DoctorSettings } from './arguments.js';
import { type Check, failed, passed } from './check.js';
import { exchange, jsonBody, noAnswer } from './exchange.js';

/** The contact the doctor asks a token for: one Reteno should not know, so nothing is handed out. */
export const probeContact = { externalCustomerId: 'reteno-inbox-doctor-probe' };

const apiKeyCheck = 'Reteno accepts the API key';
const scriptCheck = "Reteno's script is served";

/** Asks Reteno's token endpoint for the probe contact's token, as the site's token route does. */
export async function checkApiKey(settings: DoctorSettings): Promise<Check> {
  const url = `${settings.baseUrl}${tokenEndpointPath}`;
  const outcome = await exchange(
    url,
    {
      method: 'POST',
      headers: {
        authorization: `Basic ${basicCredentials(settings.apiKey)}`,
        'content-type': 'application/json',
        accept: 'application/json',
        'user-agent': 'reteno-inbox-doctor',
      },
      body: JSON.stringify(probeContact),
    },
    settings.timeout,
  );
  if (outcome.kind !== 'answer') {
    return failed(
      apiKeyCheck,
      noAnswer(url, outcome, settings.timeout),
      'Check --base-url (the baseUrl option) and that this machine reaches Reteno.',
    );
  }
  const { status } = outcome;
  const detail = `HTTP ${status} from ${url}`;
  if (status === 401 || status === 403) {
    return failed(
      apiKeyCheck,
      `${detail}: the key is refused, disabled (unused 90 days) or lacking rights`,
      "Create a key in Reteno's Settings > API keys and give it to the site (RETENO_API_KEY).",
    );
  }
  if (status === 200) {
    const token = (jsonBody(outcome) as { token?: unknown } | undefined)?.token;
    if (typeof token === 'string') return passed(apiKeyCheck, detail);
    return failed(
      apiKeyCheck,
      `${detail} without a token`,
      `${url} is not Reteno's token endpoint: check --base-url (the baseUrl option).`,
    );
  }
  if (status === 429 || status >= 500) {
    return failed(apiKeyCheck, detail, 'Reteno is busy or failing: run the doctor again in a minute.');
  }
  return failed(
    apiKeyCheck,
    detail,
    `Reteno's token endpoint should answer 200: check --base-url (the baseUrl option, default https://reteno.com).`,
  );
}

/** Fetches `{scriptBaseUrl}{scriptId}.js`, as the loader on the page does. */
export async function checkScript(settings: DoctorSettings): Promise<Check> {
  const fix =
    "Wrong script id? Take it from Reteno's Settings > Web Tracking (the scriptId option); check --script-base-url.";
  if (!uuidPattern.test(settings.scriptId)) {
    return failed(scriptCheck, '--script-id is not a UUID', fix);
  }
  const url = settings.scriptUrl;
  // A CDN may redirect; the browser follows.
  const outcome = await exchange(url, { redirect: 'follow' }, settings.timeout);
  if (outcome.kind !== 'answer') return failed(scriptCheck, noAnswer(url, outcome, settings.timeout), fix);
  const type = outcome.headers.get('content-type') ?? 'no content type';
  const detail = `HTTP ${outcome.status}, ${type}, from ${url}`;
  if (outcome.status === 200 && /\b(?:java|ecma)script\b/i.test(type)) return passed(scriptCheck, detail);
  return failed(scriptCheck, detail, fix);
}
