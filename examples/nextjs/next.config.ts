import type { NextConfig } from 'next';

const config: NextConfig = {
  // A native addon: load it with require() at run time, never bundle it.
  serverExternalPackages: ['@calmony/error-tracker'],
};

export default config;
