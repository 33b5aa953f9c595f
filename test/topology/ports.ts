/**
 * Loopback ports for processes that bind them a moment later. A port from `listen(0)` is
 * in the kernel's ephemeral range, where an outgoing connection (processes open hundreds)
 * may take it before the process binds it; these are below that range.
 */
import { randomInt } from 'node:crypto';
import { readFileSync } from 'node:fs';
import net from 'node:net';

/** The kernel's range of ports for outgoing connections (Linux), or the usual one. */
function ephemeralPorts(): { low: number; high: number } {
  try {
    const [low, high] = readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8')
      .trim()
      .split(/\s+/)
      .map(Number);
    if (low && high) return { low, high };
  } catch {
    // Not Linux: the range most systems use.
  }
  return { low: 32768, high: 60999 };
}

/**
 * A loopback port nothing listens on, for a process that binds it seconds later: below the
 * ephemeral range, so no outgoing connection (the processes open hundreds) takes it meanwhile,
 * and never one already in `taken` (to which it is added).
 */
export async function unusedPort(taken: Set<number>): Promise<number> {
  const below = Math.min(ephemeralPorts().low, 32768);
  for (;;) {
    const port = randomInt(10_000, below);
    if (taken.has(port)) continue;
    const free = await new Promise<boolean>((resolve) => {
      const probe = net.createServer();
      probe.once('error', () => resolve(false));
      probe.listen(port, '127.0.0.1', () => probe.close(() => resolve(true)));
    });
    if (free) {
      taken.add(port);
      return port;
    }
  }
}
