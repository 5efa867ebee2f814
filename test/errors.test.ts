import { errorCodes, RetenoInboxError } from '../src/errors.js';
import { RetenoEmulatorError, emulatorErrorCodes } from '../src/emulator/index.js';
import { packageFile } from '../src/package-files.js';

/** An error as the other build of the package makes it: another class, with the same brand on its prototype. */
function fromTheOtherBuild(brand: string): Error {
  class OtherCopy extends Error {}
  Object.defineProperty(OtherCopy.prototype, Symbol.for(brand), { value: true });
  return new OtherCopy('from the other build');
}

describe('errors of either build', () => {
  it('answers instanceof RetenoInboxError for an error of the other build, by its brand', () => {
    expect(fromTheOtherBuild('express-reteno-inbox.RetenoInboxError')).toBeInstanceOf(RetenoInboxError);
    expect(new RetenoInboxError(errorCodes.invalidOption, 'x')).toBeInstanceOf(RetenoInboxError);
    expect(new Error('plain')).not.toBeInstanceOf(RetenoInboxError);
    expect(fromTheOtherBuild('express-reteno-inbox.RetenoEmulatorError')).not.toBeInstanceOf(
      RetenoInboxError,
    );
  });

  it('keeps a subclass to its own instances', () => {
    class SiteError extends RetenoInboxError {}
    expect(new SiteError(errorCodes.invalidOption, 'x')).toBeInstanceOf(RetenoInboxError);
    expect(new RetenoInboxError(errorCodes.invalidOption, 'x')).not.toBeInstanceOf(SiteError);
    expect(fromTheOtherBuild('express-reteno-inbox.RetenoInboxError')).not.toBeInstanceOf(SiteError);
  });

  it('does the same for RetenoEmulatorError', () => {
    expect(fromTheOtherBuild('express-reteno-inbox.RetenoEmulatorError')).toBeInstanceOf(RetenoEmulatorError);
    expect(new RetenoEmulatorError(emulatorErrorCodes.invalidOption, 'x')).toBeInstanceOf(
      RetenoEmulatorError,
    );
    expect(new RetenoEmulatorError(emulatorErrorCodes.invalidOption, 'x')).not.toBeInstanceOf(
      RetenoInboxError,
    );
  });
});

describe('files shipped with the package', () => {
  it('finds the embed template and the emulator widget, and names a missing file', () => {
    expect(packageFile('views/embed.ejs')).toMatch(/views[/\\]embed\.ejs$/);
    expect(packageFile('views/emulator-widget.js')).toMatch(/views[/\\]emulator-widget\.js$/);
    expect(() => packageFile('views/missing.ejs')).toThrow('views/missing.ejs is missing from the package');
  });
});
