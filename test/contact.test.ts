import fc from 'fast-check';
import { checkContact, isPlainEmailContact } from '../src/contact.js';

describe('contact', () => {
  it('treats null and undefined as anonymous', () => {
    expect(checkContact(null)).toEqual({ kind: 'anonymous' });
    expect(checkContact(undefined)).toEqual({ kind: 'anonymous' });
  });

  it('keeps exactly the non-empty known fields', () => {
    expect(
      checkContact({ email: 'a@b.co', phone: '', externalCustomerId: null, name: 'Anna', password: 'x' }),
    ).toEqual({ kind: 'valid', contact: { email: 'a@b.co' } });
    expect(checkContact({ phone: '+380 (50) 123-45-67', externalCustomerId: 'c-1' })).toEqual({
      kind: 'valid',
      contact: { phone: '+380 (50) 123-45-67', externalCustomerId: 'c-1' },
    });
  });

  it.each([
    ['an empty object', {}],
    ['only empty fields', { email: '', phone: null }],
    ['a string', 'anna@example.com'],
    ['an array', [{ email: 'a@b.co' }]],
    ['a number field', { externalCustomerId: 42 }],
    ['a malformed email', { email: 'not an email' }],
    ['a script in the email', { email: '</script>@x.co' }],
    ['an oversized email', { email: `${'a'.repeat(64)}@${'b'.repeat(200)}.com` }],
    ['a phone of letters', { phone: 'call me' }],
    ['a too long phone', { phone: '+1234567890123456' }],
    ['control characters', { externalCustomerId: 'id\u0000' }],
    ['a line separator', { externalCustomerId: 'id\u2028' }],
    ['an absurd length', { externalCustomerId: 'x'.repeat(10_000) }],
    ['surrounding white space', { externalCustomerId: ' 42 ' }],
    ['one bad field beside a good one', { email: 'a@b.co', phone: 'nope' }],
  ])('refuses %s, naming the field but not its value', (_name, value) => {
    const check = checkContact(value);
    expect(check.kind).toBe('invalid');
    if (check.kind === 'invalid') {
      expect(check.reason).not.toContain('</script>');
      expect(check.reason).not.toContain('call me');
    }
  });

  describe('isPlainEmailContact, the shortcut pages take', () => {
    it('takes the usual contact, a valid e-mail alone', () => {
      fc.assert(
        fc.property(fc.emailAddress(), (email) => {
          expect(isPlainEmailContact({ email })).toBe(checkContact({ email }).kind === 'valid');
        }),
      );
      expect(isPlainEmailContact({ email: 'anna@example.com' })).toBe(true);
      expect(isPlainEmailContact({ email: "o'brien+inbox@example.co.uk", name: 'Anna' })).toBe(true);
    });

    it.each([
      ['null', null],
      ['a string', 'anna@example.com'],
      ['an array', Object.assign([], { email: 'a@b.co' })],
      ['a malformed email', { email: 'not an email' }],
      ['an email with a control character', { email: 'a\u0000@b.co' }],
      ['an email with white space', { email: ' a@b.co' }],
      ['an oversized email', { email: `${'a'.repeat(64)}@${'b.'.repeat(100)}com` }],
      ['an email beside a phone', { email: 'a@b.co', phone: '+380501234567' }],
      ['an email beside an empty field', { email: 'a@b.co', externalCustomerId: '' }],
      ['a phone alone', { phone: '+380501234567' }],
    ])('leaves %s to checkContact', (_name, value) => {
      expect(isPlainEmailContact(value)).toBe(false);
    });

    it('never takes what checkContact would not accept as exactly that e-mail', () => {
      const field = fc.oneof(
        fc.constant(undefined),
        fc.constant(null),
        fc.constant(''),
        fc.emailAddress(),
        fc.string({ unit: 'binary', maxLength: 300 }),
        fc.anything(),
      );
      fc.assert(
        fc.property(
          fc.oneof(
            fc.record({ email: field, phone: field, externalCustomerId: field }, { requiredKeys: [] }),
            fc.anything(),
          ),
          (value) => {
            if (!isPlainEmailContact(value)) return;
            const { email } = value as { email: string };
            expect(checkContact(value)).toEqual({ kind: 'valid', contact: { email } });
          },
        ),
        { numRuns: 2000 },
      );
    });
  });
});
