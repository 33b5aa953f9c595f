import { captureLogs } from '../testing/index.ts';
import { openedResources } from './opened-resources.ts';

describe('opened resources', () => {
  it('close the latest first, a pushLast one after all others, each once, past a failing close', async () => {
    const logs = captureLogs();
    const closed: string[] = [];
    const opened = openedResources(logs.logger);
    const close = (name: string) => async () => void closed.push(name);
    opened.push('database', close('database'));
    opened.push('cache', async () => {
      closed.push('cache');
      throw new Error('cache would not close');
    });
    opened.pushLast('operator port', close('operator port'));
    opened.push('graphql', close('graphql'));

    await opened.closeAll();
    await opened.closeAll();

    expect(closed).toEqual(['graphql', 'cache', 'database', 'operator port']);
    expect(logs.lines).toContainEqual(
      expect.objectContaining({ resource: 'cache', msg: 'error while stopping', level: 50 }),
    );
  });
});
