// GET /api/ops: the tracker's own counters for an operations dashboard, behind a token
// (OPS_TOKEN). `groups[].users` is how many people each error hit; `releases` shows which
// deploy brought which error.
import { stats } from '@calmony/error-tracker';

export const dynamic = 'force-dynamic';

export function GET(request: Request) {
  const token = process.env.OPS_TOKEN;
  if (!token || request.headers.get('authorization') !== `Bearer ${token}`) {
    return new Response(null, { status: 404 });
  }
  const { captured, ignored, groups, releases } = stats();
  return Response.json({ captured, ignored, groups, releases });
}
