/**
 * The error for an event that cannot be published or applied as it is, in a module of its
 * own: the envelope parser and the catalogue both raise it, and neither imports the other.
 */

/** An event that cannot be published or applied as it is: never retried, dead-lettered. */
export class InvalidEventError extends Error {
  readonly eventId: string | undefined;
  readonly retriable = false;
  constructor(eventId: string | undefined, reason: string) {
    super(eventId ? `event ${eventId}: ${reason}` : reason);
    this.name = 'InvalidEventError';
    this.eventId = eventId;
  }
}
