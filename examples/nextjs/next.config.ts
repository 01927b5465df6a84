import type { NextConfig } from 'next';

const config: NextConfig = {
  // A native addon: load it with require() at run time, never bundle it.
  serverExternalPackages: ['@calmony/error-tracker'],
  // Maps for the browser bundles, so the tunnel can show browser frames as the app's source.
  // `error-tracker hide-sourcemaps` (postbuild) moves them out of the served tree.
  productionBrowserSourceMaps: true,
};

export default config;
