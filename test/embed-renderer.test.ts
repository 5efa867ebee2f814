import fc from 'fast-check';
import { createEmbedRenderer, type EmbedValues } from '../src/embed.js';

const settings = { scriptUrl: 'https://statics.esputnik.com/scripts/0f8e2a4c.js', flags: {} };

/** What a renderer that has rendered nothing before answers for `values`. */
const firstAnswers = new Map<string, string>();
function firstAnswer(values: EmbedValues): string {
  const key = JSON.stringify([values.nonce ?? null, values.tokenUrl ?? null, values.language]);
  let answer = firstAnswers.get(key);
  if (answer === undefined) {
    answer = createEmbedRenderer(settings)(values);
    firstAnswers.set(key, answer);
  }
  return answer;
}

describe('embed renderer', () => {
  it('renders every page from its own values, whatever the pages before it', () => {
    const page = fc.record({
      nonce: fc.constantFrom(undefined, 'rAnd0m+/Nonce==', 'b3RoZXI'),
      tokenUrl: fc.constantFrom(undefined, '/reteno/app-inbox/token', '/shop/reteno/app-inbox/token'),
      language: fc.constantFrom('uk', 'en', 'de'),
    });
    fc.assert(
      fc.property(fc.array(page, { minLength: 1, maxLength: 8 }), (pages) => {
        const render = createEmbedRenderer(settings);
        for (const values of pages) expect(render(values)).toBe(firstAnswer(values));
      }),
      { numRuns: 300 },
    );
  });

  it('prints the nonce, token URL and language it is given', () => {
    const render = createEmbedRenderer(settings);
    render({ nonce: 'b3RoZXI', tokenUrl: '/reteno/app-inbox/token', language: 'de' });
    const embed = render({
      nonce: 'rAnd0m+/Nonce==',
      tokenUrl: '/shop/reteno/app-inbox/token',
      language: 'uk',
    });
    expect(embed).toMatch(/^<script nonce="rAnd0m\+\/Nonce==">/);
    expect(embed).toContain('fetch("/shop/reteno/app-inbox/token"');
    expect(embed).toContain('language:"uk"});</script>');
    const again = render({ nonce: undefined, tokenUrl: '/shop/reteno/app-inbox/token', language: 'uk' });
    expect(again).toBe(embed.replace(' nonce="rAnd0m+/Nonce=="', ''));
  });
});
