// Shared pieces of the ph5 addon: the process-wide lock, the order in which calls start,
// the failure type every call throws, and the base class of every asynchronous call.
#pragma once

#define OMPI_SKIP_MPICXX 1
#define MPICH_SKIP_MPICXX 1
#include <mpi.h>
#include <hdf5.h>
#include <napi.h>

#include <cstdint>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#ifndef H5_HAVE_PARALLEL
#error "ph5 needs a parallel (MPI) build of HDF5: set HDF5_DIR to one, see native/README.md"
#endif

namespace ph5 {

// Debian's parallel HDF5 is not thread-safe, and MPI is initialised with
// MPI_THREAD_SERIALIZED: every HDF5 and MPI call in the process happens under this lock.
std::mutex& ApiLock();

// Stable error codes (the `code` of Ph5NativeError).
namespace code {
constexpr const char* kNotFound = "PH5_ERR_NOT_FOUND";
constexpr const char* kExists = "PH5_ERR_EXISTS";
constexpr const char* kType = "PH5_ERR_TYPE";
constexpr const char* kSelection = "PH5_ERR_SELECTION";
constexpr const char* kArgument = "PH5_ERR_ARGUMENT";
constexpr const char* kClosed = "PH5_ERR_CLOSED";
constexpr const char* kReadOnly = "PH5_ERR_READ_ONLY";
constexpr const char* kMpi = "PH5_ERR_MPI";
constexpr const char* kHdf5 = "PH5_ERR_HDF5";
// A layout parallel HDF5 1.10 cannot write correctly (compact, virtual), or a write that
// touches more chunks than ph5 will prepare at once.
constexpr const char* kLayout = "PH5_ERR_LAYOUT";
// A collective write would touch chunks that are not allocated yet (a dataset made with
// incremental or late allocation, e.g. by h5py): not an error of the job; the caller
// allocates them serially (PrepareChunks) and writes again.
constexpr const char* kNeedsAllocation = "PH5_ERR_NEEDS_ALLOCATION";
// A write parallel HDF5 1.10 cannot make at all (variable-length strings, on an mpio file):
// the caller writes the same data through a serial open of the file (one process).
constexpr const char* kNeedsSerial = "PH5_ERR_NEEDS_SERIAL";
}  // namespace code

// What a failed call reports to JavaScript: a stable code, a message, and HDF5's error
// stack when HDF5 was the one that failed.
struct Failure {
  std::string code;
  std::string message;
  std::string stack;
};

[[noreturn]] void Fail(const char* code, const std::string& message);
// Captures (and clears) HDF5's error stack, then throws. A PH5_ERR_HDF5 `code` is refined
// from the stack where it says more (a missing object is PH5_ERR_NOT_FOUND, ...).
[[noreturn]] void FailHdf5(const char* code, const std::string& what);
[[noreturn]] void FailMpi(int err, const std::string& what);

// A JS error of the class registered with setErrorClass (plain Error until then).
Napi::Error MakeError(Napi::Env env, const Failure& f);
void SetErrorClass(const Napi::CallbackInfo& info);
[[noreturn]] void ThrowArgument(Napi::Env env, const std::string& message);

// Wraps an exported function so that no C++ exception can reach Node: ph5 failures and
// anything unexpected become a thrown Ph5NativeError.
Napi::Function Export(Napi::Env env, const char* name, Napi::Value (*fn)(const Napi::CallbackInfo&));

// Switches HDF5's automatic error printing off (idempotent; caller holds ApiLock).
void EnsureHdf5();

// MPI state as seen by ph5 (MPI_Initialized/MPI_Finalized without taking the lock).
bool MpiActive();

// An HDF5 id that closes itself: every id opened inside a call is closed before it returns.
class Hid {
 public:
  Hid() = default;
  explicit Hid(hid_t id) : id_(id) {}
  Hid(const Hid&) = delete;
  Hid& operator=(const Hid&) = delete;
  Hid(Hid&& o) noexcept : id_(o.id_) { o.id_ = -1; }
  Hid& operator=(Hid&& o) noexcept {
    if (this != &o) {
      Close();
      id_ = o.id_;
      o.id_ = -1;
    }
    return *this;
  }
  ~Hid() { Close(); }
  hid_t get() const { return id_; }
  operator hid_t() const { return id_; }
  // Gives up ownership (the id stays open; the caller keeps it).
  hid_t release() {
    hid_t id = id_;
    id_ = -1;
    return id;
  }
  void Close();

 private:
  hid_t id_ = -1;
};

// Check an HDF5 return value; throw with the HDF5 stack when it signals failure.
inline hid_t Check(hid_t id, const std::string& what, const char* code = code::kHdf5) {
  if (id < 0) FailHdf5(code, what);
  return id;
}
inline herr_t CheckErr(herr_t err, const std::string& what, const char* code = code::kHdf5) {
  if (err < 0) FailHdf5(code, what);
  return err;
}

// Calls start in the order JavaScript made them. Collective operations (MPI collectives
// and every HDF5 call on a parallel file) must be started in the same order on every
// rank; the libuv pool runs queued work on several threads, and a mutex has no fairness,
// so without this two un-awaited calls could start in different orders on two ranks and
// deadlock. Each call takes a ticket on the JS thread when it is queued; its Execute()
// waits for that ticket to come up and passes the turn on once its collective work has
// been started (EndTurn), or when it finishes.
class Turn {
 public:
  static uint64_t Take();  // JS thread only
  explicit Turn(uint64_t ticket);
  ~Turn() { End(); }
  void End();

 private:
  uint64_t ticket_;
  bool ended_ = false;
};

// Base of every asynchronous call: Execute() runs Run() on a libuv pool thread, and any
// Failure or C++ exception becomes a rejected Promise with a ph5 error, never a crash.
class AsyncCall : public Napi::AsyncWorker {
 public:
  explicit AsyncCall(Napi::Env env, const char* name);
  // Takes the call's ticket, queues it, and returns its Promise (JS thread).
  Napi::Promise Start();
  // Calls queued and not yet settled (JS thread only).
  static int InFlight();

 protected:
  // Runs on a worker thread, in turn. Must not touch JS values.
  virtual void Run() = 0;
  // Runs on the JS thread after success.
  virtual Napi::Value Result(Napi::Env env) { return env.Undefined(); }
  // Takes ApiLock.
  std::unique_lock<std::mutex> Lock() { return std::unique_lock<std::mutex>(ApiLock()); }
  // Lets the next call start (done automatically when Run() returns).
  void EndTurn();

 private:
  void Execute() final;
  void OnOK() final;
  void OnError(const Napi::Error& e) final;

  // Created in Start(), not in the constructor: a subclass constructor that refuses an
  // argument throws before Start(), and a Deferred that is never settled leaks (its
  // napi_deferred and the Promise stay alive for good).
  std::optional<Napi::Promise::Deferred> deferred_;
  Failure failure_;
  int poolNice_ = 0;
  uint64_t ticket_ = 0;
  Turn* turn_ = nullptr;
};

// Readers of JS arguments; they throw a PH5_ERR_ARGUMENT error synchronously.
// Dimensions are integers in [0, 2^53); with allowUnlimited, -1 becomes H5S_UNLIMITED.
std::vector<hsize_t> ToDims(Napi::Env env, const Napi::Value& v, const std::string& what, bool allowUnlimited);
std::string ToString(Napi::Env env, const Napi::Value& v, const std::string& what);
bool ToBool(Napi::Env env, const Napi::Value& v, const std::string& what);

// Makes `env` the addon's one owner and registers its teardown (env_lifecycle.cc); throws
// PH5_ERR_ARGUMENT when another environment of the process owns the addon.
void ClaimEnvironment(Napi::Env env);

// Registration of each part's functions.
void InitMpi(Napi::Env env, Napi::Object exports);
void InitH5(Napi::Env env, Napi::Object exports);
void InitStagingIo(Napi::Env env, Napi::Object exports);

}  // namespace ph5
