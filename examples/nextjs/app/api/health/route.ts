// An upstream the report route calls (a stand-in for the list provider's status endpoint).
export function GET() {
  return Response.json({ lists: 'ok' });
}
