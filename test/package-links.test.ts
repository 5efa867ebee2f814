import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

// The README and CHANGELOG are read on npm's page and from node_modules, where docs/ and examples/ are not (the
// tarball holds only what a site runs). So every link in a packed Markdown file is an anchor of that file, an
// https URL of the repository naming a file or folder it tracks (and a heading, for an anchor), or an https URL of
// another site; nothing relative.

const repoRoot = fileURLToPath(new URL('..', import.meta.url));
const execFileAsync = promisify(execFile);
const manifest = JSON.parse(readFileSync(join(repoRoot, 'package.json'), 'utf8')) as {
  repository: { url: string };
  homepage: string;
};
const repository =
  /^git\+(https:\/\/github\.com\/[^/]+\/[^/.]+)\.git$/.exec(manifest.repository.url)?.[1] ?? '';
const ownPath = new URL(repository).pathname;
const branch = 'main';

/** The text of a Markdown file outside fenced code blocks, and without inline code spans unless asked. */
function proseOf(markdown: string, { keepCode = false } = {}): string {
  let fence: string | undefined;
  const lines: string[] = [];
  for (const line of markdown.split('\n')) {
    const marker = /^\s*(`{3,}|~{3,})/.exec(line)?.[1];
    if (marker !== undefined && (fence === undefined || marker.startsWith(fence))) {
      fence = fence === undefined ? marker : undefined;
      continue;
    }
    if (fence === undefined) lines.push(keepCode ? line : line.replace(/(`+)[\s\S]*?\1/g, ''));
  }
  return lines.join('\n');
}

/** Every link target: inline links and images, reference definitions, autolinks, HTML href and src. */
function linksOf(markdown: string): string[] {
  const prose = proseOf(markdown);
  const patterns = [
    /\]\(\s*<?([^)\s>]+)>?(?:\s+"[^"]*")?\s*\)/g,
    /^\s{0,3}\[[^\]]+\]:\s*<?(\S+?)>?(?:\s|$)/gm,
    /<((?:https?|ftp):[^>\s]+)>/g,
    /\b(?:href|src)\s*=\s*["']([^"']+)["']/g,
  ];
  return patterns.flatMap((pattern) => [...prose.matchAll(pattern)].map((match) => match[1] ?? ''));
}

/** GitHub's heading anchors (github-slugger): lower case, punctuation dropped, spaces to '-', repeats numbered. */
function anchorsOf(markdown: string): Set<string> {
  const anchors = new Set<string>();
  const seen = new Map<string, number>();
  for (const [, heading = ''] of proseOf(markdown, { keepCode: true }).matchAll(
    /^#{1,6}\s+(.+?)\s*#*\s*$/gm,
  )) {
    const text = heading.replace(/!?\[([^\]]*)\]\([^)]*\)/g, '$1').replace(/[`*]/g, '');
    const slug = text
      .toLowerCase()
      .replace(/[^\p{L}\p{M}\p{N}\p{Pc} -]/gu, '')
      .replace(/ /g, '-');
    const count = seen.get(slug) ?? 0;
    seen.set(slug, count + 1);
    anchors.add(count === 0 ? slug : `${slug}-${count}`);
  }
  return anchors;
}

let packed: string[];
let tracked: Set<string>;

beforeAll(async () => {
  const [{ stdout: pack }, { stdout: files }] = await Promise.all([
    execFileAsync('npm', ['pack', '--dry-run', '--json', '--ignore-scripts'], { cwd: repoRoot }),
    execFileAsync('git', ['ls-files'], { cwd: repoRoot }),
  ]);
  const [result] = JSON.parse(pack) as { files: { path: string }[] }[];
  packed = (result?.files ?? []).map((file) => file.path).filter((path) => path.endsWith('.md'));
  tracked = new Set(files.split('\n').filter(Boolean));
}, 60_000);

/** Why a link target does not resolve, or undefined when it does. */
function brokenLink(file: string, target: string): string | undefined {
  const text = readFileSync(join(repoRoot, file), 'utf8');
  if (target.startsWith('#')) {
    return anchorsOf(text).has(decodeURIComponent(target.slice(1))) ? undefined : 'no such heading';
  }
  let url: URL;
  try {
    url = new URL(target);
  } catch {
    return 'relative: dead on npm and in node_modules';
  }
  if (url.protocol !== 'https:') return 'not https';
  // A file or folder of the repository, on GitHub or raw; its other pages (releases, compare…) are plain https.
  const inRepository =
    url.hostname === 'github.com'
      ? new RegExp(`^${ownPath}/(blob|tree)/([^/]+)/(.+)$`, 'i').exec(url.pathname)
      : url.hostname === 'raw.githubusercontent.com'
        ? new RegExp(`^${ownPath}/()([^/]+)/(.+)$`, 'i').exec(url.pathname)
        : null;
  if (!inRepository) return undefined;
  const [, kind, ref, path = ''] = inRepository;
  if (ref !== branch) return `not on ${branch}: a file of another version`;
  const isFolder = [...tracked].some((file) => file.startsWith(`${path}/`));
  if (kind === 'tree' ? !isFolder : !tracked.has(path)) return `${path} is not in the repository`;
  if (url.hash !== '') {
    if (!path.endsWith('.md')) return 'an anchor in a file that is not Markdown';
    const anchors = anchorsOf(readFileSync(join(repoRoot, path), 'utf8'));
    if (!anchors.has(decodeURIComponent(url.hash.slice(1)))) return `${path} has no heading ${url.hash}`;
  }
  return undefined;
}

describe('links in the packed Markdown files', () => {
  it('packs the README and the CHANGELOG, and package.json names the repository they link to', () => {
    expect(packed).toEqual(expect.arrayContaining(['README.md', 'CHANGELOG.md']));
    expect(repository).toMatch(/^https:\/\/github\.com\//);
    expect(manifest.homepage).toBe(`${repository}#readme`);
  });

  it('resolves every link to a heading, a file of the repository, or another https site', () => {
    const broken = packed.flatMap((file) => {
      const links = linksOf(readFileSync(join(repoRoot, file), 'utf8'));
      return links.flatMap((target) => {
        const reason = brokenLink(file, target);
        return reason === undefined ? [] : [`${file}: ${target}: ${reason}`];
      });
    });
    expect(broken).toEqual([]);
  });

  it('finds the README links it checks, its image included', () => {
    const links = linksOf(readFileSync(join(repoRoot, 'README.md'), 'utf8'));
    expect(links).toEqual(expect.arrayContaining(['#mount-order']));
    expect(
      links.filter((link) => link.startsWith(`${repository}/blob/${branch}/docs/`)).length,
    ).toBeGreaterThan(3);
    expect(links.some((link) => /\.png$/.test(link))).toBe(true);
  });

  it('refuses a relative link, a missing file, a missing heading and an http link', () => {
    expect(brokenLink('README.md', 'docs/OPERATING.md')).toMatch(/relative/);
    expect(brokenLink('README.md', `${repository}/blob/${branch}/docs/NOPE.md`)).toMatch(
      /not in the repository/,
    );
    expect(brokenLink('README.md', `${repository}/blob/${branch}/docs/OPERATING.md#nope`)).toMatch(
      /no heading/,
    );
    expect(brokenLink('README.md', '#nope')).toBe('no such heading');
    expect(brokenLink('README.md', 'http://example.com/')).toBe('not https');
    expect(brokenLink('README.md', `${repository}/blob/v0.0.1/README.md`)).toMatch(/not on main/);
    expect(brokenLink('README.md', `${repository}/releases/tag/v0.1.0`)).toBeUndefined();
  });
});
