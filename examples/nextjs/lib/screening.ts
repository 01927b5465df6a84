// A stand-in for the sanctions-list client. It fails the way the real one does, with the
// subject in the message. The subject also travels on the error under keys the tracker knows
// to be personal (`name`, `dateOfBirth`): they are filtered there, and their values are then
// removed from the message and everywhere else in the event.
export class ScreeningError extends Error {
  constructor(
    message: string,
    readonly subject?: { name: string; dateOfBirth: string },
  ) {
    super(message);
    this.name = 'ScreeningError';
  }
}

export function screenSubject(name: string, dateOfBirth: string): never {
  throw new ScreeningError(`OFSI list unavailable while screening ${name} (born ${dateOfBirth})`, {
    name,
    dateOfBirth,
  });
}

export function loadSubject(id: string): never {
  throw new ScreeningError(`subject ${id} has no screening record`);
}

export function buildReport(requestedBy: string): never {
  throw new ScreeningError(`report for ${requestedBy} could not be built: no matches table`);
}
