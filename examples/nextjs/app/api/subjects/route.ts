// Route handler that catches its own error: the client gets a generic 500 with the event id
// (support can find the event from it), the full error goes to the tracker.
import { internalServerError } from '@calmony/error-tracker';
import { loadSubject } from '../../../lib/screening';

export async function GET(request: Request) {
  try {
    return Response.json(loadSubject(new URL(request.url).searchParams.get('id') ?? ''));
  } catch (err) {
    return internalServerError(err, { lookup: 'subject' });
  }
}
