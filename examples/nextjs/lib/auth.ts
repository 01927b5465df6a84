// A stand-in for the app's auth layer, called at the top of each route and page, the way
// `await auth()` is in NextAuth or Clerk: it reads who is asking (here from a header a proxy
// sets) and tells the tracker, so every error in this request, including those Next.js
// reports through onRequestError, carries the user. Each request has its own scope, so
// concurrent requests never see each other's user. No middleware needed.
import { setTag, setUser } from '@calmony/error-tracker';
import { headers } from 'next/headers';

export async function currentUser(): Promise<{ id: string; team: string } | null> {
  const h = await headers();
  const id = h.get('x-user-id');
  if (!id) return null;
  const user = { id, team: h.get('x-team') ?? 'screening' };
  setUser({ id: user.id });
  setTag('team', user.team);
  return user;
}
