/** The HTTP Basic credentials Reteno expects: any user name, the API key as password. */
export function basicCredentials(apiKey: string): string {
  return Buffer.from(`express-reteno-inbox:${apiKey}`).toString('base64');
}

/**
 * Every form in which an API key could reach a log line or an output: as given, escaped inside JSON, and inside
 * the Basic header built from it. Longest first, so that blanking a shorter form leaves no part of a longer one;
 * forms under 4 characters are left alone (blanking them would garble every message).
 */
export function secretForms(secrets: readonly string[]): string[] {
  const forms = secrets.flatMap((secret) => [
    secret,
    JSON.stringify(secret).slice(1, -1),
    basicCredentials(secret),
  ]);
  return [...new Set(forms)].filter((form) => form.length >= 4).sort((a, b) => b.length - a.length);
}

/** The text with every one of `forms` replaced by `[redacted]`. */
export function redact(text: string, forms: readonly string[]): string {
  return forms.reduce((result, form) => result.split(form).join('[redacted]'), text);
}
