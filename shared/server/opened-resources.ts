/**
 * What a service's start-up opened, and how to close each: a start-up pushes each thing as
 * it opens it, and `closeAll` closes them in reverse order of opening, on `stop()` or when a
 * later step of the start-up fails. A close that fails is logged and the rest still close;
 * each is closed once.
 */
import type { Logger } from '../observability/index.ts';

export interface OpenedResources {
  /** `name` is open; `stop` closes it, before everything opened earlier. */
  push(name: string, stop: () => Promise<void>): void;
  /** `name` is open; `stop` closes it after everything else, whenever it was opened. */
  pushLast(name: string, stop: () => Promise<void>): void;
  /** Closes everything opened so far, the latest first. */
  closeAll(): Promise<void>;
}

export function openedResources(logger: Logger): OpenedResources {
  const opened: { name: string; stop: () => Promise<void> }[] = [];
  return {
    push: (name, stop) => void opened.push({ name, stop }),
    pushLast: (name, stop) => void opened.unshift({ name, stop }),
    async closeAll() {
      for (const resource of opened.splice(0).reverse()) {
        await resource
          .stop()
          .catch((error: unknown) =>
            logger.error({ err: error, resource: resource.name }, 'error while stopping'),
          );
      }
    },
  };
}
