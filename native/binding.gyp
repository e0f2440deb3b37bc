{
  "targets": [
    {
      "target_name": "ph5_native",
      "sources": [
        "src/addon.cc",
        "src/errors.cc",
        "src/dtype.cc",
        "src/mpi_ops.cc",
        "src/h5_ops.cc"
      ],
      "include_dirs": ["<!(node -p \"require('node-addon-api').include_dir\")"],
      "defines": [
        "NAPI_VERSION=8",
        "NAPI_CPP_EXCEPTIONS",
        "OMPI_SKIP_MPICXX",
        "MPICH_SKIP_MPICXX"
      ],
      "cflags_cc": ["-std=c++17", "-fexceptions", "-Wall", "-Wextra", "-Wno-unused-parameter", "<!@(node scripts/find-deps.cjs cflags)"],
      "cflags_cc!": ["-fno-exceptions", "-std=gnu++17"],
      "cflags!": ["-fno-exceptions"],
      "libraries": ["<!@(node scripts/find-deps.cjs libs)"],
      "ldflags": ["<!@(node scripts/find-deps.cjs ldflags)"]
    }
  ]
}
