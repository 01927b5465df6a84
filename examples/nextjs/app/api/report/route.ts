// Route handler: GET /api/report. It identifies the user, logs, calls an upstream, then fails:
// the event Next.js reports through onRequestError carries the user, the team tag, and what
// led up to it as breadcrumbs (the console.warn and the fetch, with its status and duration).
import { addBreadcrumb, setTag } from '@calmony/error-tracker';
import { currentUser } from '../../../lib/auth';
import { buildReport } from '../../../lib/screening';

export const dynamic = 'force-dynamic';

export async function GET(request: Request) {
  const user = await currentUser();
  // The support reference the client sent, if any: it names the request, not the person.
  const ref = request.headers.get('x-request-ref') ?? 'none';
  setTag('ref', ref);
  console.warn(`report ${ref} requested`);
  const health = await fetch(new URL('/api/health', request.url), { cache: 'no-store' });
  addBreadcrumb({ category: 'report', message: `report ${ref}: lists are ${(await health.json()).lists}` });
  return Response.json(buildReport(user?.id ?? 'anonymous'));
}
