// Jest's transform for the runner's sandbox: esbuild turns ES modules, TypeScript and JSX into
// CommonJS with a source map (so coverage is of the file as written), and, where the file calls
// jest.mock, babel-plugin-jest-hoist (Jest's own, as babel-jest uses it) lifts those calls above
// the requires, as Jest users expect.
"use strict";

const path = require("path");
const { transformSync } = require("esbuild");

const LOADERS = {
  ".js": "jsx",
  ".jsx": "jsx",
  ".mjs": "js",
  ".cjs": "js",
  ".ts": "ts",
  ".mts": "ts",
  ".cts": "ts",
  ".tsx": "tsx",
};

function hoistMocks(code, map, filename) {
  const babel = require("@babel/core");
  const result = babel.transformSync(code, {
    filename,
    babelrc: false,
    configFile: false,
    compact: false,
    sourceMaps: true,
    inputSourceMap: map,
    plugins: [require.resolve("babel-plugin-jest-hoist")],
  });
  return { code: result.code, map: result.map };
}

module.exports = {
  process(sourceText, sourcePath) {
    const loader = LOADERS[path.extname(sourcePath)] || "js";
    const result = transformSync(sourceText, {
      loader,
      format: "cjs",
      target: "node20",
      platform: "node",
      sourcemap: true,
      sourcefile: sourcePath,
      sourcesContent: true,
      jsx: "automatic",
      supported: { "dynamic-import": false },
    });
    const map = JSON.parse(result.map);
    if (/\bjest\s*\.\s*(mock|unmock|enableAutomock|disableAutomock|deepUnmock)\s*\(/.test(sourceText)) {
      return hoistMocks(result.code, map, sourcePath);
    }
    return { code: result.code, map };
  },
};
