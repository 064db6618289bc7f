# Bulwark's native addon (node-addon-api, C++17, C++ exceptions on). Built on
# `npm ci` by the root package's "install" script, by hand with
# `npm run build:native`. The headers come from node-addon-api's include_dir
# (not its gyp targets, which would litter native/node_modules with makefiles).
{
  "targets": [
    {
      "target_name": "bulwark_native",
      "sources": ["src/addon.cc", "src/buzhash.cc", "src/errno-error.cc", "src/exit-watchdog.cc", "src/scandir.cc", "src/times.cc"],
      "include_dirs": ["<!(node -p \"require('node-addon-api').include_dir\")"],
      "defines": ["NAPI_VERSION=8", "NAPI_CPP_EXCEPTIONS", "NODE_ADDON_API_DISABLE_DEPRECATED"],
      "cflags!": ["-fno-exceptions"],
      "cflags_cc!": ["-fno-exceptions"],
      "cflags_cc": ["-std=c++17", "-Wall", "-Wextra"]
    }
  ]
}
