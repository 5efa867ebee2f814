// The i18n package ships no types; this declares the part the tests use.
declare module 'i18n' {
  export interface ConfigurationOptions {
    locales?: string[];
    defaultLocale?: string;
    queryParameter?: string;
    cookie?: string;
    header?: string;
    staticCatalog?: Record<string, Record<string, string>>;
    updateFiles?: boolean;
    syncFiles?: boolean;
  }

  export class I18n {
    constructor(options?: ConfigurationOptions);
    /** Express middleware: sets `req.locale`, `req.getLocale()` and friends. */
    init(request: object, response: object, next?: () => void): void;
    getLocales(): string[];
  }
}
