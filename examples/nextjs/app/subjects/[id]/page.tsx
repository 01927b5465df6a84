// A server component that throws while rendering: GET /subjects/<id>.
import { loadSubject } from '../../../lib/screening';

export const dynamic = 'force-dynamic';

export default async function Subject({ params }: { params: Promise<{ id: string }> }) {
  const { id } = await params;
  const subject = loadSubject(id);
  return <p>{subject}</p>;
}
