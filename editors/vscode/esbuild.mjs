// Bundles the client and vscode-languageclient into one file, dist/extension.js, as the
// VS Code docs advise ("Bundling Extensions"): the package then ships one script instead
// of node_modules. `node esbuild.mjs --production` minifies (vsce runs it through
// `vscode:prepublish`); without the flag the bundle keeps a source map, for development.
import * as esbuild from 'esbuild';

const production = process.argv.includes('--production');

await esbuild.build({
  entryPoints: ['extension.js'],
  bundle: true,
  format: 'cjs',
  platform: 'node',
  target: 'node20',
  // Provided by VS Code at run time.
  external: ['vscode'],
  outfile: 'dist/extension.js',
  minify: production,
  sourcemap: !production,
  sourcesContent: false,
  logLevel: 'warning',
});
