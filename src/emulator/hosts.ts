import { isIPv6 } from 'node:net';

const loopbackIpv4 = /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/;

/**
 * Whether a request's `Host` header names the emulator: a loopback name (`localhost`, `*.localhost`, `127.x.x.x`,
 * `[::1]`) or the host it was told to listen on, any port. Any other name is refused, so that a page whose own
 * DNS name was rebound to this machine cannot call the emulator.
 */
export function isServedHost(hostHeader: string | undefined, configuredHost: string): boolean {
  const name = hostNameOf(hostHeader);
  if (name === null) return false;
  return (
    isLoopbackName(name) ||
    name === hostNameOf(isIPv6(configuredHost) ? `[${configuredHost}]` : configuredHost)
  );
}

/** Whether an address the emulator listens on is reachable from this machine only. */
export function isLoopbackAddress(address: string): boolean {
  const ipv4 = address.startsWith('::ffff:') ? address.slice('::ffff:'.length) : address;
  return address === '::1' || loopbackIpv4.test(ipv4);
}

function isLoopbackName(name: string): boolean {
  return name === 'localhost' || name.endsWith('.localhost') || name === '[::1]' || loopbackIpv4.test(name);
}

/**
 * The host name of a `Host` header, without the port, normalised as a browser would (lower case, IP addresses in
 * their usual form); `null` when the header is missing or is not a plain host.
 */
function hostNameOf(host: string | undefined): string | null {
  // Only characters of names, IPv4 and bracketed IPv6 addresses and a port: no user info, path or query to mislead.
  if (host === undefined || !/^[A-Za-z0-9._~-]+(:\d*)?$|^\[[0-9A-Fa-f:.]+\](:\d*)?$/.test(host)) return null;
  try {
    return new URL(`http://${host}`).hostname;
  } catch {
    return null;
  }
}
