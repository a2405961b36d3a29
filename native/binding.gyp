{
  # Mosaic native engine. Exception policy: NAPI_CPP_EXCEPTIONS (C++ exceptions on).
  # The CUDA backend is compiled only when cuda.h is present at build time; it never links
  # libcuda (the driver is dlopen'ed at run time).
  "variables": {
    "cuda_home%": "<!(echo ${CUDA_HOME:-/usr/local/cuda})",
    "have_cuda_headers%": "<!(test -f ${CUDA_HOME:-/usr/local/cuda}/include/cuda.h && echo 1 || echo 0)"
  },
  "targets": [
    {
      "target_name": "mosaic_native",
      "sources": [
        "src/addon.cc",
        "src/thread_pool.cc",
        "src/cpu_ops.cc",
        "src/gemm.cc",
        "src/graph.cc",
        "src/cuda_backend.cc"
      ],
      "include_dirs": ["<!(node -p \"require('node-addon-api').include_dir\")"],
      "defines": ["NAPI_VERSION=8", "NAPI_CPP_EXCEPTIONS", "NODE_ADDON_API_DISABLE_DEPRECATED"],
      "cflags!": ["-fno-exceptions", "-fno-rtti"],
      "cflags_cc!": ["-fno-exceptions", "-fno-rtti"],
      "cflags_cc": ["-std=c++17", "-O3", "-fexceptions", "-Wall", "-Wextra", "-Werror=switch", "-Wno-unused-parameter", "-pthread"],
      "ldflags": ["-pthread"],
      "libraries": ["-ldl"],
      "conditions": [
        ["have_cuda_headers==1", {
          "defines": ["MOSAIC_HAVE_CUDA_HEADERS"],
          "include_dirs": ["<(cuda_home)/include"]
        }]
      ]
    }
  ]
}
