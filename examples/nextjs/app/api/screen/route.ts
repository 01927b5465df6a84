// Route handler: GET /api/screen?name=…&dob=…. The screening call throws and the error reaches
// instrumentation.ts's onRequestError.
import { screenSubject } from '../../../lib/screening';

export async function GET(request: Request) {
  const query = new URL(request.url).searchParams;
  return Response.json(screenSubject(query.get('name') ?? '', query.get('dob') ?? ''));
}
