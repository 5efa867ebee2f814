import type { Contact } from './contact-type.js';

/** The fields Reteno can find a contact by, in the order they are sent. */
export const contactFields = ['email', 'phone', 'externalCustomerId'] as const;
export type ContactField = (typeof contactFields)[number];

/** A contact ready for Reteno: only non-empty, validated fields. */
export type ValidContact = Partial<Record<ContactField, string>>;

export type ContactCheck =
  { kind: 'anonymous' } | { kind: 'valid'; contact: ValidContact } | { kind: 'invalid'; reason: string };

// The HTML standard's "valid e-mail address", with the length limit of RFC 5321.
const emailPattern =
  /^[a-zA-Z0-9.!#$%&'*+/=?^_`{|}~-]{1,64}@[a-zA-Z0-9](?:[a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?(?:\.[a-zA-Z0-9](?:[a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?)*$/;
// Digits with an optional leading '+' and the usual separators; 5 to 15 digits (E.164 allows at most 15).
const phonePattern = /^\+?[0-9 ().-]{5,32}$/;
const unprintable = /[\p{Cc}\p{Cs}\u2028\u2029]/u;

const maxLength: Record<ContactField, number> = { email: 254, phone: 32, externalCustomerId: 256 };

/**
 * Checks what `resolveContact` returned. `null`/`undefined` is an anonymous visitor; anything else must be an
 * object with at least one usable field and no malformed one. Reasons name fields, never their values.
 */
export function checkContact(value: unknown): ContactCheck {
  if (value === null || value === undefined) return { kind: 'anonymous' };
  if (typeof value !== 'object' || Array.isArray(value)) {
    return { kind: 'invalid', reason: 'resolveContact must return an object like { email } or null' };
  }
  const given = value as Contact;
  const contact: ValidContact = {};
  for (const field of contactFields) {
    const fieldValue: unknown = given[field];
    if (fieldValue === undefined || fieldValue === null || fieldValue === '') continue;
    if (typeof fieldValue !== 'string') return { kind: 'invalid', reason: `\`${field}\` is not a string` };
    const problem = fieldProblem(field, fieldValue);
    if (problem) return { kind: 'invalid', reason: `\`${field}\` ${problem}` };
    contact[field] = fieldValue;
  }
  if (Object.keys(contact).length === 0) {
    return { kind: 'invalid', reason: 'the contact has none of email, phone, externalCustomerId' };
  }
  return { kind: 'valid', contact };
}

function fieldProblem(field: ContactField, value: string): string | undefined {
  if (value.length > maxLength[field]) return `is longer than ${maxLength[field]} characters`;
  if (unprintable.test(value)) return 'contains control characters';
  if (value.trim() !== value) return 'has leading or trailing white space';
  if (field === 'email' && !emailPattern.test(value)) return 'is not a valid e-mail address';
  if (field === 'phone') {
    const digits = value.replace(/\D/g, '').length;
    if (!phonePattern.test(value) || digits < 5 || digits > 15) return 'is not a valid phone number';
  }
  return undefined;
}
