// Developer CLI for the Kafka test broker: starts a mock cluster behind fixed-port proxies,
// prints the bootstrap string and keeps running until Ctrl-C / SIGTERM (then stops cleanly).
//
//   npx node test/kafka-broker/cli.ts [--brokers 3] [--base-port 19092] [--host 127.0.0.1]
//                                     [--topic name:partitions ...]
//
// All data is in memory and lost when it exits.

import { parseArgs } from 'node:util';
import { startTestBroker } from './index.ts';

const { values } = parseArgs({
  options: {
    brokers: { type: 'string', default: '3' },
    'base-port': { type: 'string', default: '19092' },
    host: { type: 'string', default: '127.0.0.1' },
    topic: { type: 'string', multiple: true, default: [] },
    help: { type: 'boolean', short: 'h', default: false },
  },
});

if (values.help) {
  console.log(
    'Usage: npx node test/kafka-broker/cli.ts [--brokers 3] [--base-port 19092] ' +
      '[--host 127.0.0.1] [--topic name:partitions ...]',
  );
  process.exit(0);
}

function toInt(name: string, value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n)) {
    console.error(`--${name} must be an integer, got '${value}'`);
    process.exit(2);
  }
  return n;
}

try {
  const broker = await startTestBroker({
    brokers: toInt('brokers', values.brokers),
    basePort: toInt('base-port', values['base-port']),
    host: values.host,
  });
  for (const spec of values.topic) {
    const [name = '', partitions = '1'] = spec.split(':');
    const created = await broker.createTopic(name, toInt('topic', partitions));
    console.error(`topic ${name}: ${created ? `created (${partitions} partitions)` : 'exists'}`);
  }
  console.log(broker.bootstrap);
  console.error('Kafka test broker running (in-memory); Ctrl-C to stop.');
  let stopping = false;
  const shutdown = () => {
    if (stopping) return;
    stopping = true;
    broker.stop().then(
      () => process.exit(0),
      (error: unknown) => {
        console.error(error);
        process.exit(1);
      },
    );
  };
  process.on('SIGINT', shutdown);
  process.on('SIGTERM', shutdown);
} catch (error) {
  console.error((error as Error).message);
  process.exit(1);
}
