import { retenoHosts } from '../csp.js';
import { defaults } from '../options.js';
import type { DoctorSettings, SiteSettings } from './arguments.js';
import { type Check, failed, passed, quoted, readmeUrl, shortened } from './check.js';
import { type PageEmbed, readEmbed } from './embed.js';
import { maxBodyBytes, noAnswer } from './exchange.js';
import {
  allowsEmbedScript,
  allowsUrl,
  connectDirectives,
  directiveFor,
  hasKeyword,
  noncesOf,
  type Policy,
  parsePolicies,
  scriptDirectives,
} from './policy.js';
import { csrfHeadersOf, sameOrigin, type Visitor, visit } from './visitor.js';

/** The signed-in page as the doctor read it, or why it could not. */
export type LoadedPage =
  | {
      kind: 'page';
      url: URL;
      embed: PageEmbed;
      policies: Policy[];
      /** The page was longer than the doctor reads. */
      truncated: boolean;
      /** The signed-in user with the cookies the page set, and the CSRF header its embed sends. */
      visitor: Visitor;
    }
  | { kind: 'unusable'; detail: string; fix: string };

const embedCheck = 'The page carries one embed';
const nonceCheck = "The embed's nonce matches the CSP";
const hostsCheck = "The CSP allows Reteno's hosts";

/** Fetches the page with the signed-in user's cookies (and `--header`), without following redirects. */
export async function loadPage(site: SiteSettings, timeout: number): Promise<LoadedPage> {
  const { pageUrl: url } = site;
  const { outcome, visitor } = await visit(site, { cookies: site.cookies, headers: {} }, url, timeout);
  if (outcome.kind !== 'answer') {
    return {
      kind: 'unusable',
      detail: noAnswer(url, outcome, timeout),
      fix: 'Check --site-url: the site must be running and reachable from here.',
    };
  }
  const { status, headers } = outcome;
  if (status >= 300 && status < 400) {
    return {
      kind: 'unusable',
      detail: `HTTP ${status} to ${shortened(headers.get('location') ?? 'nowhere')} from ${url.href}`,
      fix: "The page redirects (to a sign-in page?): the cookie is not a signed-in user's. Sign in as a test user and copy the session cookie again.",
    };
  }
  if (status !== 200) {
    return {
      kind: 'unusable',
      detail: `HTTP ${status} from ${url.href}`,
      fix: '--site-url must be a page that shows the inbox to a signed-in user.',
    };
  }
  const embed = readEmbed(outcome.body);
  return {
    kind: 'page',
    url,
    embed,
    policies: parsePolicies(headers.get('content-security-policy')),
    truncated: outcome.truncated,
    visitor: { cookies: visitor.cookies, headers: csrfHeadersOf(embed) },
  };
}

/**
 * The token route the probes call: `--token-path`, else the one the page's embed calls (when it stays on the page's
 * origin), else the default path.
 */
export function tokenUrlFor(site: SiteSettings, page: LoadedPage): URL {
  return site.tokenUrl ?? embedTokenUrl(page) ?? new URL(defaults.tokenPath, site.pageUrl.origin);
}

/** The embed's token URL on the page's origin; `undefined` when there is none or it leaves the origin. */
function embedTokenUrl(page: LoadedPage): URL | undefined {
  if (page.kind !== 'page' || page.embed.tokenUrl === undefined) return undefined;
  return sameOrigin(page.embed.tokenUrl, page.url);
}

/** One loader and one `eS('init'`, loading the script the settings name, calling a token route on the page's origin. */
export function checkEmbed(page: LoadedPage, settings: DoctorSettings): Check {
  if (page.kind === 'unusable') return failed(embedCheck, page.detail, page.fix);
  const { loaders, inits, scriptUrl, tokenUrl } = page.embed;
  const counted = `${loaders} Reteno loader(s) and ${inits} eS('init' call(s)`;
  if (loaders === 0 && inits === 0) {
    const read = page.truncated ? ` (in its first ${maxBodyBytes / 1024 / 1024} MiB)` : '';
    return failed(
      embedCheck,
      `no Reteno loader and no eS('init' on ${page.url.href}${read}`,
      `The page was rendered for nobody: is the cookie a signed-in user's, is retenoInbox() mounted after the session (${readmeUrl}#mount-order), and does the view call retenoInbox()?`,
    );
  }
  if (loaders !== 1 || inits !== 1) {
    return failed(
      embedCheck,
      counted,
      `Reteno takes one loader and one init per page: remove another Reteno snippet (${readmeUrl}#sites-that-already-run-retenos-web-tracking) or a second retenoInbox() call in the layout.`,
    );
  }
  if (scriptUrl !== settings.scriptUrl) {
    return failed(
      embedCheck,
      `the loader does not load ${settings.scriptUrl}`,
      "The site's scriptId or scriptBaseUrl differs from --script-id or --script-base-url: give both the same values.",
    );
  }
  if (tokenUrl !== undefined && embedTokenUrl(page) === undefined) {
    return failed(
      embedCheck,
      `the embed calls its token route off the page's origin: ${quoted(tokenUrl)}`,
      "The embed express-reteno-inbox renders calls a path on the page's own origin: is another script on the page?",
    );
  }
  return passed(embedCheck, `one loader of ${settings.scriptUrl} and one eS('init'`);
}

/** Every policy lets the embed's inline script run: by the nonce, when the policy uses nonces. */
export function checkEmbedNonce(page: LoadedPage & { kind: 'page' }): Check {
  if (page.policies.length === 0) return passed(nonceCheck, 'no Content-Security-Policy header');
  const fix = `Set res.locals.cspNonce to the nonce of the CSP, per request (or pass the nonce option): ${readmeUrl}#content-security-policy`;
  let usesNonce = false;
  for (const policy of page.policies) {
    const directive = directiveFor(policy, scriptDirectives);
    if (directive === undefined) continue;
    const nonces = noncesOf(directive.sources);
    usesNonce ||= nonces.length > 0;
    for (const script of page.embed.scripts) {
      if (allowsEmbedScript(directive.sources, script, page.url)) continue;
      const has = script.nonce === undefined ? 'no nonce' : `nonce ${quoted(script.nonce)}`;
      const tag = script.src === undefined ? "the embed's <script>" : "the client's <script src>";
      return failed(
        nonceCheck,
        nonces.length > 0
          ? `the CSP's ${directive.name} allows ${shortened(`'nonce-${nonces[0]}'`)}; ${tag} has ${has}`
          : script.src === undefined
            ? `the CSP's ${directive.name} allows no inline script: no nonce, hash or 'unsafe-inline'`
            : `the CSP's ${directive.name} allows neither a nonce nor the page's own origin ('self') for ${tag}`,
        fix,
      );
    }
  }
  return passed(
    nonceCheck,
    usesNonce ? "the embed's nonce is the CSP's" : 'the CSP lets the inline embed run',
  );
}

/** Every policy lets the loader fetch Reteno's script and the script call Reteno (or the emulator). */
export function checkPolicyHosts(page: LoadedPage & { kind: 'page' }, settings: DoctorSettings): Check {
  if (page.policies.length === 0) return passed(hostsCheck, 'no Content-Security-Policy header');
  const scriptUrl = new URL(settings.scriptUrl);
  const reteno = isRetenoHost(scriptUrl.hostname);
  // Off Reteno's hosts the script comes from the emulator, which also serves the API the script calls.
  const connectHosts: readonly string[] = reteno ? retenoHosts.connect : [scriptUrl.origin];
  const missing: string[] = [];
  for (const policy of page.policies) {
    const script = directiveFor(policy, scriptDirectives);
    if (
      script &&
      // Under 'strict-dynamic' a script the nonce allowed may add others: the loader adds Reteno's.
      !hasKeyword(script.sources, "'strict-dynamic'") &&
      !allowsUrl(script.sources, scriptUrl, page.url)
    ) {
      missing.push(`${script.name} lacks ${scriptUrl.origin}`);
    }
    const connect = directiveFor(policy, connectDirectives);
    if (connect) {
      // A wildcard host is allowed only by a source that covers any name under it.
      const blocked = connectHosts.filter(
        (host) => !allowsUrl(connect.sources, new URL(host.replace('*.', 'reteno-inbox-doctor.')), page.url),
      );
      if (blocked.length > 0) missing.push(`${connect.name} lacks ${blocked.join(', ')}`);
    }
  }
  if (missing.length > 0) {
    return failed(
      hostsCheck,
      missing.join('; '),
      `Add them to the CSP: retenoInboxCsp(directives${reteno ? '' : ', { emulatorUrl }'}) does: ${readmeUrl}#content-security-policy`,
    );
  }
  return passed(hostsCheck, `the script from ${scriptUrl.origin}, calls to ${connectHosts.join(', ')}`);
}

/** Reteno's own domains: those that retenoHosts lists without a wildcard, and their subdomains. */
function isRetenoHost(hostname: string): boolean {
  return retenoHosts.connect
    .filter((host) => !host.includes('*'))
    .some((host) => {
      const domain = new URL(host).hostname;
      return hostname === domain || hostname.endsWith(`.${domain}`);
    });
}
