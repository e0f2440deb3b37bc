// The addon's life in a Node environment (the main thread, or one worker_thread).
//
// The addon's state is the process's, not an environment's: one HDF5 library, one MPI,
// one table of open files (Files()), one lock and one order of calls (Turn). Two
// environments sharing it would interleave their tickets and handles, so one environment
// owns the addon at a time: a load from a second environment while the first is alive
// fails with PH5_ERR_ARGUMENT, saying so. When the owning environment tears down (the
// event loop of the main thread ran dry, or a worker ended) the cleanup hook below runs,
// and another environment may then load the addon if the first left nothing behind.
//
// Teardown semantics (the hook, on the owning environment's JS thread):
//   - serial files still open are closed (H5Fclose, under ApiLock), so their ids are not
//     left to HDF5's atexit and the file on disk is complete;
//   - parallel files are NOT closed: their close is collective, and a rank whose
//     environment is ending cannot make the other ranks join it. They stay open and the
//     process reports them on stderr; close them (or mpi.finalize()) before exiting;
//   - MPI is never finalised here: OpenMPI's MPI_Finalize waits for every rank (a PMIx
//     fence), which would hang a rank that exits alone. mpi.finalize() stays the one way;
//   - if a ph5 call is still in flight (a pool thread may be inside a collective and hold
//     ApiLock for good), or the lock cannot be taken, nothing is touched: waiting could
//     hang the exit, and closing under a running call would pull its file away.
#include <atomic>
#include <cstdio>

#include "common.h"

namespace ph5 {

int CloseSerialFilesAtTeardown();  // h5_files.cc

namespace {

// The environment that owns the addon (nullptr: none). Written on JS threads only.
std::atomic<napi_env> g_owner{nullptr};
// Set when an owner went away leaving state behind (a call in flight, parallel files open):
// no other environment may take the addon over then.
std::atomic<bool> g_abandoned{false};

void TearDown(void* arg) {
  napi_env env = static_cast<napi_env>(arg);
  bool clean = false;
  int inFlight = AsyncCall::InFlight();
  if (inFlight > 0) {
    std::fprintf(stderr, "ph5: environment teardown with %d ph5 call(s) still pending: open files left as they are\n", inFlight);
  } else {
    std::unique_lock<std::mutex> guard(ApiLock(), std::try_to_lock);
    if (!guard.owns_lock()) {
      std::fprintf(stderr, "ph5: environment teardown while ph5's lock is held: open files left as they are\n");
    } else {
      int leftParallel = CloseSerialFilesAtTeardown();
      if (leftParallel > 0)
        std::fprintf(stderr,
                     "ph5: environment teardown with %d parallel file(s) still open: not closed (a collective close "
                     "needs every rank); close them or call mpi.finalize() before exiting\n",
                     leftParallel);
      clean = leftParallel == 0;
    }
  }
  if (!clean) g_abandoned = true;
  napi_env expected = env;
  g_owner.compare_exchange_strong(expected, nullptr);
}

}  // namespace

void ClaimEnvironment(Napi::Env env) {
  napi_env none = nullptr;
  if (g_abandoned) {
    ThrowArgument(env,
                  "the ph5 native addon cannot be loaded again in this process: the environment that loaded it before "
                  "ended with ph5 calls pending or parallel files open");
  }
  if (!g_owner.compare_exchange_strong(none, env)) {
    ThrowArgument(env,
                  "the ph5 native addon is already loaded by another Node environment of this process (the main "
                  "thread or another worker_thread); its state (MPI, HDF5, the open files) is the process's, so "
                  "only one environment may use it at a time");
  }
  napi_status status = napi_add_env_cleanup_hook(env, TearDown, env);
  if (status != napi_ok) {
    g_owner = nullptr;
    NAPI_THROW_VOID(Napi::Error::New(env, "ph5: could not register the environment cleanup hook"));
  }
}

}  // namespace ph5
