# Bulwark server image.
#
# Two stages on the same Node.js 20 base: `build` runs `npm ci`, which
# compiles lz4 and Bulwark's own addon (native/) with node-gyp and fetches
# the prebuilt binaries (uWebSockets.js, RocksDB, @node-rs/*), and checks
# that they load; the runtime stage copies that tree onto a clean base and
# runs the server as an unprivileged user with tsx, as `npm start` does.
#
#   podman build --format docker -t bulwark .     # --format docker keeps HEALTHCHECK
#   docker build -t bulwark .
#
# See docs/deployment.md for the environment, volumes, proxies and compose.

# Any Debian bookworm image with Node.js 20 (binary, npm, headers) will do.
ARG NODE_IMAGE=node:20-bookworm-slim

FROM ${NODE_IMAGE} AS build
# Behind a TLS-intercepting proxy: mount its CA bundle into the build and
# name the file here (--build-arg NODE_EXTRA_CA_CERTS=/etc/ssl/certs/ca-certificates.crt).
ARG NODE_EXTRA_CA_CERTS=
# Where node-gyp finds Node's headers; empty means the prefix of the node
# binary (/usr/local in the official images), so nothing is downloaded.
ARG npm_config_nodedir=
# The official slim image has no compiler; a base that brings one skips apt.
RUN if ! command -v g++ >/dev/null || ! command -v make >/dev/null || ! command -v python3 >/dev/null; then \
      apt-get update && apt-get install -y --no-install-recommends g++ make python3 && rm -rf /var/lib/apt/lists/*; \
    fi
WORKDIR /app
# Dependencies first (with native/, built by the root install script), so
# source changes don't redo them.
COPY package.json package-lock.json ./
COPY native/ native/
# typescript and @types are the devDependencies nothing needs at run time;
# tsx (also a devDependency) stays, it runs the server.
RUN --mount=type=cache,target=/root/.npm \
    export npm_config_nodedir="${npm_config_nodedir:-$(node -p 'require("path").resolve(process.execPath, "../..")')}" \
 && npm ci --no-audit --no-fund --no-update-notifier \
 && rm -rf node_modules/typescript node_modules/@types native/build/Release/obj.target native/build/Release/.deps
COPY . .
# Fail the build, not the first start, when a native module does not load.
RUN node --import tsx --input-type=module -e "\
  const { loadUws } = await import('./transport/uws.ts'); \
  const { nativeLoadError } = await import('./native/index.ts'); \
  const uws = loadUws({}); if (uws.implementation !== 'native') throw new Error('uWebSockets.js fell back to JS'); \
  if (nativeLoadError()) throw nativeLoadError(); \
  await import('lz4'); await import('level-rocksdb'); await import('@node-rs/xxhash'); await import('@node-rs/crc32'); await import('fs-native-extensions'); \
  console.log('native modules load; uWebSockets.js:', uws.binary);"

FROM ${NODE_IMAGE}
ARG BULWARK_UID=10001
RUN groupadd --gid "${BULWARK_UID}" bulwark \
 && useradd --uid "${BULWARK_UID}" --gid bulwark --no-log-init --home-dir /var/lib/bulwark --no-create-home --shell /usr/sbin/nologin bulwark \
 && install -d -o bulwark -g bulwark -m 0750 /var/lib/bulwark
WORKDIR /app
# Owned by root and read-only for the server: it writes only to the volume.
COPY --from=build /app /app
ENV NODE_ENV=production \
    BULWARK_DATA_DIR=/var/lib/bulwark \
    BULWARK_LISTEN=0.0.0.0 \
    BULWARK_PORT=8007 \
    BULWARK_LOG_LEVEL=info
USER bulwark
# Configuration (etc/: users, ACLs, datastores, TLS key) and the default
# datastore store1, both under the data directory.
VOLUME ["/var/lib/bulwark"]
EXPOSE 8007
# The server aborts running tasks (recorded as aborted) and exits on SIGTERM.
STOPSIGNAL SIGTERM
# No curl in the slim image: node asks the API for its version (self-signed
# certificate, so no verification; it only proves the server answers).
HEALTHCHECK --interval=30s --timeout=10s --start-period=30s --retries=3 \
  CMD node -e "const l = process.env.BULWARK_LISTEN; \
    const host = !l || l === '0.0.0.0' || l === '::' ? '127.0.0.1' : l; \
    require('node:https').get({ host, port: Number(process.env.BULWARK_PORT || 8007), path: '/api2/json/version', rejectUnauthorized: false, timeout: 8000 }, \
      (res) => process.exit(res.statusCode === 200 ? 0 : 1)).on('error', () => process.exit(1)).on('timeout', () => process.exit(1));"
# node runs as PID 1 itself (not the tsx CLI, which would fork a child), so
# SIGTERM reaches the server. As PID 1 it ignores a signal it has no handler
# for, and the server installs its own only once its modules are loaded
# (seconds under tsx): until then the first --import makes SIGTERM/SIGINT end
# the process, as they would anywhere else. Flags given to `run` are appended.
ENTRYPOINT ["node", "--import", "data:text/javascript,for (const [s, c] of [['SIGTERM', 143], ['SIGINT', 130]]) process.on(s, () => { if (process.listenerCount(s) === 1) process.exit(c); });", "--import", "tsx", "bin/bulwark-server.ts"]
