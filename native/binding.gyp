{
  # MPI and parallel HDF5 are found by scripts/find-deps.cjs (HDF5_DIR / MPI_HOME,
  # pkg-config, h5pcc, mpicc): see README.md.
  "targets": [
    {
      "target_name": "ph5_native",
      "sources": [
        "src/addon.cc",
        "src/runtime.cc",
        "src/env_lifecycle.cc",
        "src/errors.cc",
        "src/dtype.cc",
        "src/mpi_ops.cc",
        "src/h5_common.cc",
        "src/h5_files.cc",
        "src/h5_datasets.cc",
        "src/h5_links.cc",
        "src/h5_attributes.cc",
        "src/staging_io.cc"
      ],
      "include_dirs": ["<!(node -p \"require('node-addon-api').include_dir\")"],
      "defines": [
        "NAPI_VERSION=8",
        "NAPI_CPP_EXCEPTIONS",
        "NODE_ADDON_API_DISABLE_DEPRECATED",
        "OMPI_SKIP_MPICXX",
        "MPICH_SKIP_MPICXX"
      ],
      "cflags!": ["-fno-exceptions"],
      "cflags_cc!": ["-fno-exceptions", "-std=gnu++17", "-std=gnu++20"],
      "cflags_cc": ["-std=c++17", "-fexceptions", "-Wall", "-Wextra", "-Wno-unused-parameter", "<!@(node scripts/find-deps.cjs cflags)"],
      "libraries": ["<!@(node scripts/find-deps.cjs libs)"],
      "ldflags": ["<!@(node scripts/find-deps.cjs ldflags)"]
    },
    {
      # loopback-bind.so (src/loopback-bind.c says why): not an addon but a plain shared
      # library, preloaded into mpirun on one host (services/worker/network.ts). No MPI or
      # HDF5; product_prefix "" keeps the name build/Release/loopback-bind.so.
      "target_name": "loopback-bind",
      "type": "shared_library",
      "product_prefix": "",
      "sources": ["src/loopback-bind.c"],
      "cflags": ["-O2", "-Wall", "-Werror"],
      "libraries": ["-ldl"]
    },
    {
      # The API's streamed-upload writer (src/staging_stream.cc) on its own: no MPI, no
      # HDF5, so the API does not map OpenMPI and HDF5 (13 MiB of RSS) to stage a body.
      "target_name": "ph5_staging",
      "sources": ["src/staging_stream.cc"],
      "include_dirs": ["<!(node -p \"require('node-addon-api').include_dir\")"],
      "defines": ["NAPI_VERSION=8", "NAPI_CPP_EXCEPTIONS", "NODE_ADDON_API_DISABLE_DEPRECATED"],
      "cflags!": ["-fno-exceptions"],
      "cflags_cc!": ["-fno-exceptions", "-std=gnu++17", "-std=gnu++20"],
      "cflags_cc": ["-std=c++17", "-fexceptions", "-Wall", "-Wextra", "-Wno-unused-parameter"]
    }
  ]
}
