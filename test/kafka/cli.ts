/**
 * Runs the test Kafka until Ctrl-C / SIGTERM, then stops it and deletes its data:
 *
 *   npx node test/kafka/cli.ts [--nodes 1] [--base-port 19092] [--topic name:partitions ...]
 *
 * Prints the bootstrap string once it serves, e.g. for `KAFKA_BROKERS=127.0.0.1:19092 npm test`.
 */
import { parseArgs } from 'node:util';
import { startKafka } from './index.ts';

const { values } = parseArgs({
  options: {
    nodes: { type: 'string', default: '1' },
    'base-port': { type: 'string', default: '19092' },
    topic: { type: 'string', multiple: true, default: [] },
    help: { type: 'boolean', short: 'h', default: false },
  },
});

if (values.help) {
  console.log(
    'Usage: npx node test/kafka/cli.ts [--nodes 1] [--base-port 19092] [--topic name:partitions ...]',
  );
  process.exit(0);
}

function positive(flag: string, value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1) {
    console.error(`--${flag} must be a positive integer, got "${value}"`);
    process.exit(2);
  }
  return n;
}

const nodes = positive('nodes', values.nodes);
const basePort = positive('base-port', values['base-port']);
const topics = values.topic.map((spec) => {
  const [name = '', partitions = ''] = spec.split(':');
  return { name, partitions: positive('topic partitions', partitions) };
});

console.error(`starting Kafka (${nodes} node${nodes > 1 ? 's' : ''} from port ${basePort})…`);
const started = Date.now();
const cluster = await startKafka({ nodes, basePort });
for (const { name, partitions } of topics) await cluster.createTopic(name, partitions);
console.error(
  `Kafka serves after ${((Date.now() - started) / 1000).toFixed(1)} s; Ctrl-C stops it`,
);
console.log(cluster.bootstrap);

let stopping = false;
const stop = () => {
  if (stopping) return;
  stopping = true;
  cluster.stop().then(
    () => process.exit(0),
    (error: unknown) => {
      console.error(error);
      process.exit(1);
    },
  );
};
process.on('SIGINT', stop);
process.on('SIGTERM', stop);
