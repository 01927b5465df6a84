// Next.js loads this file once per server process. The tracker is a native module, so it is
// imported only on the Node.js runtime and never reaches the edge bundle.
export async function register() {
  if (process.env.NEXT_RUNTIME === 'nodejs') {
    const { init } = await import('@calmony/error-tracker');
    init(); // SENTRY_DSN, CAPTURE_ERROR_URL, SENTRY_RELEASE … from the environment
  }
}

// Next.js calls this for errors thrown in route handlers, server actions and server rendering.
export async function onRequestError(
  err: unknown,
  request: { path: string; method: string; headers: Record<string, string | string[] | undefined> },
  context: {
    routerKind: string;
    routePath: string;
    routeType: string;
    renderSource?: string;
    revalidateReason?: string;
  },
) {
  if (process.env.NEXT_RUNTIME === 'nodejs') {
    const { onRequestError } = await import('@calmony/error-tracker');
    onRequestError(err, request, context);
  }
}
