import type { DoctorSettings, SiteSettings } from './arguments.js';
import type { Check } from './check.js';
import { checkEmbed, checkEmbedNonce, checkPolicyHosts, loadPage } from './page-checks.js';
import { checkApiKey, checkScript } from './reteno-checks.js';
import { checkTokenRoute } from './token-route-checks.js';

/**
 * Runs every check the settings allow: Reteno's side always; with a site, its page and then its token route, called
 * with what the page gives its embed. Checks that need the page's embed are left out when there is none (the embed
 * check already says why).
 */
export async function runChecks(settings: DoctorSettings): Promise<Check[]> {
  const reteno = Promise.all([checkApiKey(settings), checkScript(settings)]);
  const { site } = settings;
  if (site === null) return reteno;
  const [retenoChecks, siteChecks] = await Promise.all([reteno, checkSite(site, settings)]);
  return [...retenoChecks, ...siteChecks];
}

async function checkSite(site: SiteSettings, settings: DoctorSettings): Promise<Check[]> {
  const page = await loadPage(site, settings.timeout);
  const pageChecks = [checkEmbed(page, settings)];
  if (page.kind === 'page') {
    if (page.embed.scripts.length > 0) pageChecks.push(checkEmbedNonce(page));
    pageChecks.push(checkPolicyHosts(page, settings));
  }
  return [...pageChecks, ...(await checkTokenRoute(site, page, settings.timeout))];
}
