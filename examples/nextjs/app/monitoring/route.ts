// The tunnel Sentry's browser SDK posts to (`tunnel: '/monitoring'`): checked, scrubbed and
// kept on disk by the tracker before it answers, then delivered like a server error.
import { handleTunnel } from '@calmony/error-tracker';

export const POST = (req: Request) => handleTunnel(req);
