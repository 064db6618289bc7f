// The addon loader and nothing else (prebuilds/ first, then build/Release).
// CommonJS (.cjs) because the package is "type": "module" and native/index.ts
// loads it with require() inside a try, so a missing build is catchable.
module.exports = require('node-gyp-build')(__dirname);
