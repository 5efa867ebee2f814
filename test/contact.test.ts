import { checkContact } from '../src/contact.js';

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
});
