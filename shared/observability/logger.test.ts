/**
 * The logger's two formats of the same lines: JSON for collectors, and for a person a line
 * per event (an info line's message alone, other levels with their fields) and the banner as
 * a block.
 */
import { stripVTControlCharacters } from 'node:util';
import type { DestinationStream } from 'pino';
import { createLogger, logBanner } from './logger.ts';
import type { LogFormat } from './logger.ts';

/** A logger writing into an array, one entry per write. */
function capture(format: LogFormat) {
  const written: string[] = [];
  const destination: DestinationStream = { write: (chunk: string) => void written.push(chunk) };
  return { logger: createLogger({ format, destination, level: 'debug' }), written };
}

/** Pretty output without its colours (colourless anyway when stdout is not a terminal). */
const plain = (text: string) => stripVTControlCharacters(text);

describe('createLogger', () => {
  it('writes one JSON object a line by default, with the level as a label', () => {
    const { logger, written } = capture('json');

    logger.child({ service: 'auth' }).info({ schema: 'auth' }, 'database migrated (4 applied)');

    expect(written).toHaveLength(1);
    expect(JSON.parse(written[0]!)).toMatchObject({
      level: 'info',
      service: 'auth',
      schema: 'auth',
      msg: 'database migrated (4 applied)',
    });
  });

  it('pretty: an info line is its time, level, service and message, without its fields', () => {
    const { logger, written } = capture('pretty');
    const auth = logger.child({ service: 'auth' });

    auth.info({ schema: 'auth', migrationsApplied: ['a'] }, 'database migrated (4 applied)');
    auth.info({ url: 'http://127.0.0.1:1/graphql' }, 'auth subgraph ready');

    expect(written.map(plain)).toEqual([
      expect.stringMatching(/^\[\d\d:\d\d:\d\d\] INFO: auth: database migrated \(4 applied\)\n$/),
      expect.stringMatching(/^\[\d\d:\d\d:\d\d\] INFO: auth subgraph ready\n$/),
    ]);
  });

  it('pretty: other levels keep their fields, and an error its stack', () => {
    const { logger, written } = capture('pretty');

    logger.warn({ attempt: 2 }, 'slow');
    logger.error({ err: new Error('boom') }, 'start-up failed');

    expect(plain(written[0]!)).toMatch(/WARN: slow \{"attempt":2\}\n$/);
    expect(plain(written[1]!)).toContain('ERROR: start-up failed');
    expect(plain(written[1]!)).toContain('Error: boom');
    expect(plain(written[1]!)).toMatch(/at .*logger\.test\.ts/);
  });

  it('keeps secrets out in both formats', () => {
    for (const format of ['json', 'pretty'] as const) {
      const { logger, written } = capture(format);
      logger.warn({ input: { password: 'hunter2' } }, 'odd input');
      expect(written.join('')).not.toContain('hunter2');
    }
  });
});

describe('logBanner', () => {
  const rows = { graphql: 'http://127.0.0.1:4000/graphql', stop: 'Ctrl-C' };

  it('is one JSON line with its rows as fields, and their order', () => {
    const { logger, written } = capture('json');

    logBanner(logger, 'eventgraph is ready', rows);

    expect(JSON.parse(written[0]!)).toMatchObject({
      level: 'info',
      msg: 'eventgraph is ready',
      ...rows,
      banner: ['graphql', 'stop'],
    });
  });

  it('pretty: a block, the message then each row with its label aligned', () => {
    const { logger, written } = capture('pretty');

    logBanner(logger, 'eventgraph is ready', rows);

    expect(written).toEqual([
      '\n  eventgraph is ready\n\n' +
        '    graphql  http://127.0.0.1:4000/graphql\n' +
        '    stop     Ctrl-C\n\n',
    ]);
  });
});
