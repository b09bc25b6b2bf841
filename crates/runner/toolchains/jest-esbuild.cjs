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

// esbuild's CommonJS export block (`var x_exports = {}; __export(x_exports, {...});
// module.exports = __toCommonJS(x_exports);`) maps to the file's first character, which would
// count line 1 as code: those lines lose their mappings. The mappings' deltas stay right, since the
// dropped segments are all zero ("AAAA") and come before any other.
const EXPORT_BLOCK = /^(var \w+_exports = \{\};|__export\(\w+_exports, \{|\s+[\w$]+: \(\) => [\w$]+,?|\}\);|module\.exports = __toCommonJS\(\w+_exports\);)$/;

function unmapExportBlock(code, map) {
  const lines = code.split("\n");
  const mappings = map.mappings.split(";");
  for (let i = 0; i < mappings.length && i < lines.length; i++) {
    if (mappings[i] === "") continue;
    if (mappings[i] !== "AAAA" || !EXPORT_BLOCK.test(lines[i])) break;
    mappings[i] = "";
  }
  map.mappings = mappings.join(";");
  return map;
}

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
    const map = unmapExportBlock(result.code, JSON.parse(result.map));
    if (/\bjest\s*\.\s*(mock|unmock|enableAutomock|disableAutomock|deepUnmock)\s*\(/.test(sourceText)) {
      return hoistMocks(result.code, map, sourcePath);
    }
    return { code: result.code, map };
  },
};
