/** Starts the Kafka test broker in a child process (see broker-child.ts). */
import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

export interface BrokerProcess {
  readonly brokers: string[];
  stop(): Promise<void>;
}

const CHILD = fileURLToPath(new URL('./broker-child.ts', import.meta.url));

export async function startBrokerProcess(
  brokers: number,
  basePort: number,
  timeoutMs = 60_000,
): Promise<BrokerProcess> {
  const child = spawn(process.execPath, [CHILD, String(brokers), String(basePort)], {
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  let stderr = '';
  child.stderr.setEncoding('utf8');
  child.stderr.on('data', (chunk: string) => {
    stderr += chunk;
  });
  const exited = new Promise<number | null>((resolve) => child.once('exit', resolve));
  const stop = async () => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    child.stdin.end();
    const kill = setTimeout(() => child.kill('SIGKILL'), 5000);
    await exited;
    clearTimeout(kill);
  };
  const lines = createInterface({ input: child.stdout });
  try {
    const first = await new Promise<string>((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`test broker did not start within ${timeoutMs} ms`)),
        timeoutMs,
      );
      lines.once('line', (line) => {
        clearTimeout(timer);
        resolve(line);
      });
      void exited.then((code) => {
        clearTimeout(timer);
        reject(new Error(`test broker exited (${code}): ${stderr.trim()}`));
      });
    });
    const { brokers: addresses } = JSON.parse(first) as { brokers: string[] };
    return { brokers: addresses, stop };
  } catch (error) {
    await stop();
    throw error;
  } finally {
    lines.close();
  }
}
