// The VS Code client: starts `mailgate lsp` for .policy files and for scenario files
// (YAML under a `scenarios/` folder). Every feature (diagnostics, hover, definition,
// completion, quick fixes, formatting, a scenario's decisions as inlay hints) lives in the
// server, so any editor with a language client gets the same. esbuild.mjs bundles this file
// with vscode-languageclient into dist/extension.js, the extension's `main`.
'use strict';

const vscode = require('vscode');
const { LanguageClient } = require('vscode-languageclient/node');

let client;

function serverOptions() {
  const config = vscode.workspace.getConfiguration('mailgate');
  const command = config.get('path') || 'mailgate';
  const args = ['lsp'];
  const policies = config.get('policies');
  if (policies) {
    args.push('--policies', policies);
  }
  return { command, args };
}

async function start() {
  client = new LanguageClient(
    'mailgate',
    'mailgate',
    serverOptions(),
    {
      documentSelector: [
        { scheme: 'file', language: 'mailgate' },
        // Scenario files stay YAML (highlighting, other YAML tools); the server decides
        // their requests with the policy set of the folder above `scenarios/`.
        { scheme: 'file', language: 'yaml', pattern: '**/scenarios/**/*.{yaml,yml}' },
      ],
      synchronize: {
        // Edits made outside the editor (git checkout, schema.yaml) reload the set.
        fileEvents: vscode.workspace.createFileSystemWatcher('**/{*.policy,schema.yaml}'),
      },
    },
  );
  await client.start();
}

async function activate(context) {
  await start();
  context.subscriptions.push(
    vscode.workspace.onDidChangeConfiguration(async (e) => {
      if (e.affectsConfiguration('mailgate') && client) {
        await client.stop();
        await start();
      }
    }),
  );
}

function deactivate() {
  return client ? client.stop() : undefined;
}

module.exports = { activate, deactivate };
