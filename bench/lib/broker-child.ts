/**
 * Child process that runs the Kafka test broker (test/kafka-broker) for the benchmarks, so its
 * TCP proxy does not share the benchmark's event loop (a real broker is another process too).
 * Prints `{"brokers":[...]}` on stdout once up; stops on SIGTERM/SIGINT or when its stdin
 * closes (the benchmark exited, however it died).
 *
 *   node bench/lib/broker-child.ts <brokers> <basePort>
 */
import { startTestBroker } from '../../test/kafka-broker/index.ts';

const [brokers = 3, basePort = 19592] = process.argv.slice(2).map(Number);

try {
  const broker = await startTestBroker({ brokers, basePort });
  process.stdout.write(`${JSON.stringify({ brokers: broker.brokers })}\n`);
  let stopping = false;
  const stop = () => {
    if (stopping) return;
    stopping = true;
    broker.stop().then(
      () => process.exit(0),
      () => process.exit(1),
    );
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
  process.stdin.on('end', stop);
  process.stdin.on('error', stop);
  process.stdin.resume();
} catch (error) {
  process.stderr.write(`${(error as Error).message}\n`);
  process.exit(1);
}
